// Command haul is Haul's single binary: the operator, the ingest and precalc
// jobs, the listener, the API server and the developer tools are its
// subcommands, defined in package app. This package only starts it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/haul-dev/haul/cmd/haul/app"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...
// -X main.date=..." (the Makefile and the Dockerfile do).
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, buildInfo())
	stop()
	os.Exit(code)
}

// buildInfo is what the -ldflags set, for haul version and the controller's
// default Job image.
func buildInfo() app.Build {
	return app.Build{Version: version, Commit: commit, Date: date}
}
