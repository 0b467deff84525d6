package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/internal/opsserver"
	"github.com/haul-dev/haul/internal/rollup"
	"github.com/haul-dev/haul/jobs/precalc"
)

func newPrecalcCmd() *cobra.Command {
	var urlFlag, output string
	var full bool
	cmd := &cobra.Command{
		Use:   "precalc",
		Short: "Bring the aggregates up to date with the loaded data, once",
		Long: `Add the rows loaded since the last refresh to the aggregates (or rebuild
them all: with --full, or when that is cheaper), in one transaction, and publish
them as a new data version. Waits for a refresh running elsewhere to finish first. Exits 0 when
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
	var urlFlag, metricsAddr string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Refresh the aggregates whenever an ingest run completes (runs until SIGTERM)",
		Long: `Listen for completed ingest runs and refresh the aggregates after each. At start
and after every reconnect it catches up from the database's state, so a run
that completed while no listener ran is not missed. Several listeners may run:
refreshes are serialised and each completed run is refreshed once.

With --metrics-addr it serves /healthz, /readyz (the database answers and the
LISTEN session is up) and /metrics (the haul_precalc_* series and
haul_aggregates_version) on that address.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := logr.FromContextOrDiscard(ctx)
			url, err := databaseURL(urlFlag)
			if err != nil {
				return err
			}
			pool, err := openWaiting(ctx, url, precalc.RebuildConns, wait, log)
			if err != nil {
				return err
			}
			defer pool.Close()
			opts := precalc.ListenOptions{Log: log}
			if metricsAddr != "" {
				reg := newProcessRegistry()
				opts.Metrics = precalc.NewMetrics(reg, pool, log)
				reg.MustRegister(rollup.NewVersionCollector(pool, log))
				ready := func(ctx context.Context) error { return precalc.ListenerReady(ctx, pool, opts.Metrics) }
				stop, err := opsserver.Serve(ctx, metricsAddr, opsserver.Handler(reg, ready), log)
				if err != nil {
					return usageError{err}
				}
				defer stop()
			}
			err = precalc.Listen(ctx, pool, opts)
			log.Info("listener stopped")
			return err
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	addWaitFlag(cmd, &wait)
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve /healthz, /readyz and /metrics on this address (e.g. :9090)")
	return cmd
}

// newProcessRegistry is a registry with the Go runtime's and the process's
// series, as every Haul process exports them.
func newProcessRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
