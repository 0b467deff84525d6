package main

import (
	"context"
	"fmt"
	"os"

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
	return cmd
}
