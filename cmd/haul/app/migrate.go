package app

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/internal/db"
)

// addDatabaseFlag adds --database-url; resolve it with databaseURL.
func addDatabaseFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVar(target, db.FlagDatabaseURL, "", "PostgreSQL connection URL (default $"+db.EnvDatabaseURL+")")
}

func databaseURL(flagValue string) (string, error) {
	url, err := db.ResolveURL(flagValue, os.Getenv)
	if err != nil {
		return "", usageError{err}
	}
	return url, nil
}

// openDatabase resolves the database URL and opens a pool of at most conns
// connections on it.
func openDatabase(ctx context.Context, urlFlag string, conns int) (*pgxpool.Pool, error) {
	url, err := databaseURL(urlFlag)
	if err != nil {
		return nil, err
	}
	return openPool(ctx, url, conns)
}

// addWaitFlag adds --wait-for-database to a server command; open its pool
// with openWaiting.
func addWaitFlag(cmd *cobra.Command, target *time.Duration) {
	cmd.Flags().DurationVar(target, "wait-for-database", 2*time.Minute,
		"at start, retry with backoff while the database is unreachable, for at most this long (0: fail at once); then exit 1")
}

// openWaiting waits for the database (see db.WaitReachable), then opens a
// pool of at most conns connections on it.
func openWaiting(ctx context.Context, url string, conns int, wait time.Duration, log logr.Logger) (*pgxpool.Pool, error) {
	if wait < 0 {
		return nil, usagef("--wait-for-database %s: want 0 or more", wait)
	}
	cfg, err := poolConfig(url, conns)
	if err != nil {
		return nil, err
	}
	if err := db.WaitReachable(ctx, cfg.ConnConfig, wait, log); err != nil {
		return nil, err
	}
	return db.OpenConfig(ctx, cfg)
}

func newMigrateCmd() *cobra.Command {
	var urlFlag string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade Haul's tables (idempotent; safe to run concurrently)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, err := databaseURL(urlFlag)
			if err != nil {
				return err
			}
			applied, err := db.Migrate(cmd.Context(), url)
			if err != nil {
				return err
			}
			log := logr.FromContextOrDiscard(cmd.Context())
			for _, m := range applied {
				log.Info("applied migration", "version", m.Version, "name", m.Name)
			}
			current, _, err := db.SchemaVersion(cmd.Context(), url)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema at version %d (%d migrations applied now)\n", current, len(applied))
			return nil
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	cmd.AddCommand(newMigrateStatusCmd())
	return cmd
}

func newMigrateStatusCmd() *cobra.Command {
	var urlFlag string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List Haul's migrations, applied (with when) and pending; changes nothing",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, err := databaseURL(urlFlag)
			if err != nil {
				return err
			}
			all, err := db.MigrationStatus(cmd.Context(), url)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT\tNAME")
			pending := 0
			for _, m := range all {
				state, at := "applied", m.AppliedAt.UTC().Format(time.RFC3339)
				if m.AppliedAt.IsZero() {
					state, at = "pending", "-"
					pending++
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", m.Version, state, at, m.Name)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d applied, %d pending\n", len(all)-pending, pending)
			return err
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	return cmd
}
