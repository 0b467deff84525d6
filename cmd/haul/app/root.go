// Package app is the command tree of haul, Haul's single binary: the
// operator, the ingest and precalc jobs, the listener, the API server and the
// developer tools are its subcommands. It only wires flags to the packages
// that do the work. Package main calls Run; tests that check what runs haul
// (the chart's containers, the compose file) parse their arguments with
// NewCommand's tree, as the binary would.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/internal/logging"
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

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Run runs haul with args (without the program's name) and returns its exit
// status: 0, 1 (the command failed), 2 (bad usage) or 3 (ingest failed on its
// input). build is what package main knows of the binary.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, build Build) int {
	root := NewCommand(stdout, stderr, build)
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

// NewCommand is haul's root command with every subcommand, writing to stdout
// and stderr. Executing it runs haul; Run also maps its error to an exit
// status.
func NewCommand(stdout, stderr io.Writer, build Build) *cobra.Command {
	build = build.resolved()
	logs := &logSettings{}
	root := &cobra.Command{
		Use:           "haul",
		Short:         "Haul loads fleet and shipment JSON into PostgreSQL and serves analytics over it",
		Version:       build.line(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := logs.opts.Check(); err != nil {
				return usageError{err}
			}
			cmd.SetContext(logr.NewContext(cmd.Context(), logs.logger(stderr)))
			return nil
		},
	}
	// Cobra reports an unknown subcommand as a plain error, which would exit
	// 1: the root takes the arguments itself so that it is a usage error.
	root.Args = unknownCommand
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	root.SuggestionsMinimumDistance = 2
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.IntVarP(&logs.opts.Verbosity, "verbosity", "v", 0, "log detail: 0 normal, 1 and up for more")
	pf.StringVar(&logs.opts.Format, "log-format", logging.FormatText, "log lines (on stderr) as text or json")
	root.AddCommand(
		newVersionCmd(build),
		newMigrateCmd(),
		newGenCmd(),
		newIngestCmd(logs),
		newPrecalcCmd(),
		newListenCmd(),
		newServeCmd(),
		newDemoCmd(logs),
		newControllerCmd(build),
		newHealthcheckCmd(),
	)
	return root
}

// logSettings are the global logging flags, for a command that logs to
// another writer than stderr (ingest's progress bar prints logs above it).
type logSettings struct {
	opts logging.Options
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
func (s *logSettings) logger(w io.Writer) logr.Logger { return logging.New(w, s.opts) }

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}
