package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/jobs/precalc"
)

func newPrecalcCmd() *cobra.Command {
	var urlFlag, output string
	var full bool
	cmd := &cobra.Command{
		Use:   "precalc",
		Short: "Bring the aggregates up to date with the loaded data, once",
		Long: `Recompute the aggregates of the days touched by loads since the last refresh
(every day with --full), in one transaction, and publish them as a new data
version. Waits for a refresh running elsewhere to finish first. Exits 0 when
the aggregates are up to date, including when there was nothing to do.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			ctx := cmd.Context()
			pool, err := openDatabase(ctx, urlFlag, precalc.RebuildConns)
			if err != nil {
				return err
			}
			defer pool.Close()
			res, err := precalc.Refresh(ctx, pool, precalc.Options{Full: full, Log: logr.FromContextOrDiscard(ctx)})
			if err != nil {
				return err
			}
			return writeRefresh(cmd.OutOrStdout(), output, res)
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	cmd.Flags().BoolVar(&full, "full", false, "rebuild every aggregate from the raw tables")
	cmd.Flags().StringVar(&output, "output", "text", "result format: text or json")
	return cmd
}

func writeRefresh(w io.Writer, format string, res precalc.Result) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if !res.Refreshed {
		_, err := fmt.Fprintf(w, "aggregates up to date at version %d; nothing to refresh\n", res.Version)
		return err
	}
	kind := "incremental"
	if res.Full {
		kind = "full"
	}
	_, err := fmt.Fprintf(w, "aggregates at version %d: %s refresh of %d days for %d runs in %.2fs\n",
		res.Version, kind, res.Days, len(res.Runs), res.Duration().Seconds())
	return err
}

func newListenCmd() *cobra.Command {
	var urlFlag string
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Refresh the aggregates whenever an ingest run completes (runs until SIGTERM)",
		Long: `Listen for completed ingest runs and refresh the aggregates after each. At start
and after every reconnect it catches up from the database's state, so a run
that completed while no listener ran is not missed. Several listeners may run:
refreshes are serialised and each completed run is refreshed once.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := openDatabase(ctx, urlFlag, precalc.RebuildConns)
			if err != nil {
				return err
			}
			defer pool.Close()
			log := logr.FromContextOrDiscard(ctx)
			err = precalc.Listen(ctx, pool, precalc.ListenOptions{Log: log})
			log.Info("listener stopped")
			return err
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	return cmd
}
