package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver goose needs
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationTable records which migrations ran.
const migrationTable = "haul_schema_migrations"

// migrationLockID is the advisory lock key that serialises concurrent
// migrators; any constant unlikely to collide with other applications.
const migrationLockID int64 = 0x4841554c4d4947 // "HAULMIG"

// Migration is one applied migration.
type Migration struct {
	Version int64
	Name    string
}

// Migrate applies every pending migration to the database at url. It is
// idempotent, and safe when several processes run it at once: they take turns
// on an advisory lock, and the later ones find nothing left to do.
func Migrate(ctx context.Context, url string) ([]Migration, error) {
	var applied []Migration
	err := withProvider(url, func(p *goose.Provider) error {
		results, err := p.Up(ctx)
		for _, r := range results {
			applied = append(applied, Migration{Version: r.Source.Version, Name: r.Source.Path})
		}
		if err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
		return nil
	})
	return applied, err
}

// MigrationState is one migration this binary knows, applied or pending.
type MigrationState struct {
	Migration
	// AppliedAt is zero while the migration is pending.
	AppliedAt time.Time
}

// MigrationStatus lists the migrations this binary knows, oldest first,
// with when each was applied to the database at url.
func MigrationStatus(ctx context.Context, url string) ([]MigrationState, error) {
	var out []MigrationState
	err := withProvider(url, func(p *goose.Provider) error {
		all, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("read migration status: %w", err)
		}
		for _, m := range all {
			st := MigrationState{Migration: Migration{Version: m.Source.Version, Name: m.Source.Path}}
			if m.State == goose.StateApplied {
				st.AppliedAt = m.AppliedAt
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// SchemaVersion returns the version the database is at and the newest
// version this binary knows.
func SchemaVersion(ctx context.Context, url string) (current, latest int64, err error) {
	err = withProvider(url, func(p *goose.Provider) error {
		current, latest, err = p.GetVersions(ctx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		return nil
	})
	return current, latest, err
}

// appliedVersionSQL reads the newest migration applied, 0 before the first.
const appliedVersionSQL = `SELECT coalesce(max(version_id), 0) FROM ` + migrationTable + ` WHERE is_applied`

// AppliedVersion returns the version the database q reads is at, from the
// migrations table, without goose and on the caller's pool: the API's
// /readyz asks it. Before the first migration the table does not exist and
// the error is PostgreSQL's undefined_table (42P01).
func AppliedVersion(ctx context.Context, q Querier) (int64, error) {
	var current int64
	err := q.QueryRow(ctx, appliedVersionSQL).Scan(&current)
	return current, err
}

func withProvider(url string, fn func(*goose.Provider) error) error {
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		return fmt.Errorf("open database: %w", redact(err))
	}
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID),
		// Poll every second for up to ten minutes: a concurrent migrator
		// normally holds the lock for well under a second.
		lock.WithLockTimeout(1, 600),
	)
	if err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("open embedded migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithSessionLocker(locker),
		goose.WithTableName(migrationTable),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	return fn(p)
}
