package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...
// -X main.date=..." (the Makefile and the Dockerfile do).
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of this binary",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return nil
		},
	}
}

// versionLine is what `haul version` and `haul --version` print.
func versionLine() string {
	v, c, d := buildInfo()
	return fmt.Sprintf("haul %s (commit %s, built %s, %s, %s/%s)", v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildInfo returns the -ldflags values; where one is missing, what the Go
// toolchain recorded (the module version of go install, the VCS revision
// and time of a build in a checkout), else "dev" and "unknown".
func buildInfo() (v, c, d string) {
	v, c, d = version, commit, date
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v, orUnknown(c), orUnknown(d)
	}
	if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && c == "":
			c = s.Value
		case s.Key == "vcs.time" && d == "":
			d = s.Value
		}
	}
	return v, orUnknown(c), orUnknown(d)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// buildVersion is the version alone, e.g. for the default Job image tag.
func buildVersion() string {
	v, _, _ := buildInfo()
	return v
}
