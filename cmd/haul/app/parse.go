package app

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// ParseArgs resolves args the way the haul binary would, on the real command
// tree: the subcommand they name, with its flags parsed and its arguments
// checked. Nothing runs. Tests of what runs haul (the chart's containers,
// the compose file's services) read the command's flags from the result.
func ParseArgs(args []string) (*cobra.Command, error) {
	root := NewCommand(io.Discard, io.Discard, Build{})
	cmd, rest, err := root.Find(args)
	if err != nil {
		return nil, err
	}
	if cmd == root {
		return nil, fmt.Errorf("%q names no haul subcommand", args)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return nil, fmt.Errorf("haul %s: %w", cmd.Name(), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return nil, err
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return nil, fmt.Errorf("haul %s: %w", cmd.Name(), err)
	}
	return cmd, nil
}
