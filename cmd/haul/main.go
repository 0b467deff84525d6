// Command haul is Haul's single binary: the operator, the ingest and precalc
// jobs, the listener, the API server and the developer tools are its
// subcommands. This package only wires flags to the packages that do the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
)

// Exit codes, documented in the README.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad flags or arguments
	exitInput = 3 // ingest failed on its input: the same input fails again
)

// inputError marks a failure that retrying on the same input repeats.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "haul:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ie inputError
	if errors.As(err, &ie) {
		return exitInput
	}
	return exitError
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var verbosity int
	root := &cobra.Command{
		Use:           "haul",
		Short:         "Haul loads fleet and shipment JSON into PostgreSQL and serves analytics over it",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			cmd.SetContext(logr.NewContext(cmd.Context(), newLogger(stderr, verbosity)))
		},
	}
	// Cobra reports an unknown subcommand as a plain error, which would exit
	// 1: the root takes the arguments itself so that it is a usage error.
	root.Args = unknownCommand
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	root.SuggestionsMinimumDistance = 2
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().IntVarP(&verbosity, "verbosity", "v", 0, "log detail: 0 normal, 1 and up for more")
	root.AddCommand(
		newVersionCmd(),
		newMigrateCmd(),
		newGenCmd(),
		newIngestCmd(),
		newPrecalcCmd(),
		newListenCmd(),
		newServeCmd(),
		newDemoCmd(),
		newControllerCmd(),
	)
	return root
}

// newLogger logs structured text lines to w.
func newLogger(w io.Writer, verbosity int) logr.Logger {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.Level(-verbosity)})
	return logr.FromSlogHandler(h)
}

// unknownCommand rejects the arguments of a command that only has
// subcommands, naming the ones it may have meant.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += "; did you mean " + strings.Join(suggestions, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}
