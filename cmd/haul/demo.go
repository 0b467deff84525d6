package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/localpg"
	"github.com/haul-dev/haul/jobs/ingest"
)

// demoDatabase is the database the demo creates on its throwaway server.
const demoDatabase = "haul"

func newDemoCmd() *cobra.Command {
	var (
		urlFlag, out string
		shipments    int64
		faults       float64
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Haul end to end on generated data, on a throwaway PostgreSQL unless --database-url is given",
		Long: `Start a throwaway PostgreSQL from the installed server binaries (unless
--database-url or $HAUL_DATABASE_URL names one), create Haul's tables, generate
a realistic dataset, load it with haul ingest, and report each step. Everything it made is removed when it
ends; --out keeps the generated files.

Aggregates and the API are not part of Haul yet, so the demo stops after
loading the data.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			url := urlFlag
			if url == "" {
				url = os.Getenv(db.EnvDatabaseURL)
			}
			if url == "" {
				start := time.Now()
				cluster, err := localpg.Start(ctx, localpg.Options{})
				if err != nil {
					return fmt.Errorf("start throwaway PostgreSQL: %w", err)
				}
				defer func() {
					if err := cluster.Stop(); err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "haul: stop throwaway PostgreSQL:", err)
					}
					fmt.Fprintln(w, "stopped the throwaway PostgreSQL and removed its data")
				}()
				if err := createDatabase(ctx, cluster.URL("postgres"), demoDatabase); err != nil {
					return err
				}
				url = cluster.URL(demoDatabase)
				fmt.Fprintf(w, "started a throwaway PostgreSQL in %s (%s): %s\n", cluster.Dir, time.Since(start).Round(time.Millisecond), url)
			}

			applied, err := db.Migrate(ctx, url)
			if err != nil {
				return err
			}
			version, _, err := db.SchemaVersion(ctx, url)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "migrated: schema at version %d (%d migrations applied)\n", version, len(applied))

			dir := out
			if dir == "" {
				if dir, err = os.MkdirTemp("", "haul-demo-data-*"); err != nil {
					return fmt.Errorf("create data folder: %w", err)
				}
				defer os.RemoveAll(dir)
			}
			start := time.Now()
			key, err := datagen.Generate(ctx, dir, datagen.Config{Shipments: shipments, Seed: datagen.DefaultSeed, FaultRate: faults})
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "generated:")
			printAnswerKey(w, dir, key, time.Since(start))

			pool, err := openPool(ctx, url, ingest.DefaultWorkers+2)
			if err != nil {
				return err
			}
			defer pool.Close()
			inputs := map[ingest.Dataset][]string{}
			for _, ds := range ingest.LoadOrder {
				inputs[ds] = []string{filepath.Join(dir, key.Datasets[datagen.Dataset(ds)].File)}
			}
			progress := &ingest.Progress{}
			stop := showProgress("auto", cmd.ErrOrStderr(), progress, logr.FromContextOrDiscard(ctx))
			report, err := ingest.Run(ctx, pool, ingest.Options{
				Inputs: inputs, RejectsDir: filepath.Join(dir, "rejects"), Progress: progress,
				Log: logr.FromContextOrDiscard(ctx),
			})
			stop()
			if report != nil {
				fmt.Fprintln(w, "loaded:")
				if err := report.WriteText(w); err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "aggregates and the API are not built yet: the demo ends here")
			return nil
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	cmd.Flags().Int64Var(&shipments, "shipments", 1_000_000, "shipments to generate")
	cmd.Flags().Float64Var(&faults, "faults", 0.001, "share of generated records that are bad or odd (see haul gen)")
	cmd.Flags().StringVar(&out, "out", "", "keep the generated files in this folder (default: a temporary one, removed)")
	return cmd
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to throwaway PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
