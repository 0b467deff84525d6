package app

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Build is what the binary knows of its own build: package main's version,
// commit and date, set at build time with -ldflags "-X main.version=...
// -X main.commit=... -X main.date=..." (the Makefile and the Dockerfile do).
// A field left "" (or a Version of "dev") is filled from what the Go
// toolchain recorded.
type Build struct {
	Version, Commit, Date string
}

func newVersionCmd(build Build) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of this binary",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), build.line())
			return nil
		},
	}
}

// line is what `haul version` and `haul --version` print.
func (b Build) line() string {
	return fmt.Sprintf("haul %s (commit %s, built %s, %s, %s/%s)", b.Version, b.Commit, b.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// resolved returns the -ldflags values; where one is missing, what the Go
// toolchain recorded (the module version of go install, the VCS revision
// and time of a build in a checkout), else "dev" and "unknown".
func (b Build) resolved() Build {
	v, c, d := b.Version, b.Commit, b.Date
	if v == "" {
		v = "dev"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Build{v, orUnknown(c), orUnknown(d)}
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
	return Build{v, orUnknown(c), orUnknown(d)}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
