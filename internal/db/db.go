// Package db holds what every Haul command needs to reach PostgreSQL: where
// the database is, a connection pool, and the schema migrations.
package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvDatabaseURL is read when no --database-url flag is given.
const EnvDatabaseURL = "HAUL_DATABASE_URL"

// FlagDatabaseURL is the name of the flag every command that talks to
// PostgreSQL accepts.
const FlagDatabaseURL = "database-url"

// applicationName tags Haul's sessions in pg_stat_activity.
const applicationName = "haul"

// ErrNoDatabaseURL says that neither the flag nor the environment named a database.
var ErrNoDatabaseURL = errors.New("no database: pass --" + FlagDatabaseURL + " or set " + EnvDatabaseURL)

// ResolveURL returns the flag's value when set, else the environment's
// (looked up with getenv, usually os.Getenv).
func ResolveURL(flagValue string, getenv func(string) string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if v := getenv(EnvDatabaseURL); v != "" {
		return v, nil
	}
	return "", ErrNoDatabaseURL
}

// Querier runs a query of one row; a pool, a connection and a transaction
// are each one.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects a pool to url and checks that the server answers.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can echo the password; say only what is wrong.
		return nil, fmt.Errorf("parse database url: %w", redact(err))
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig connects a pool configured by the caller and checks that the
// server answers.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool for %s: %w", describe(cfg.ConnConfig), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", describe(cfg.ConnConfig), err)
	}
	return pool, nil
}

// describe names a database without its credentials.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s:%d as %q", c.Database, c.Host, c.Port, c.User)
}

type redactedError struct{ err error }

func (e redactedError) Error() string { return "invalid connection string" }
func (e redactedError) Unwrap() error { return e.err }

func redact(err error) error { return redactedError{err} }
