// Package pgtest holds the small helpers that tests of several packages use
// on PostgreSQL: a test's database and folder (Env, on internal/db/dbtest),
// and reads of one value or of every row's values, with the test failed on
// error.
package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/dbtest"
)

// RowsQuerier runs a query of any number of rows; a pool, a connection and a
// transaction are each one. (db.Querier runs a query of one row.)
type RowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Scalar runs sql, which returns one row of one column, and returns its
// value as a T. It fails t, naming the query, on error.
func Scalar[T any](t testing.TB, q db.Querier, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := q.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// Rows runs sql and returns each row's values, in the order the server sent
// them. It fails t, with the query, on error.
func Rows(t testing.TB, q RowsQuerier, sql string, args ...any) [][]any {
	t.Helper()
	rows, err := q.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query: %v\n%s", err, sql)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatalf("query: %v\n%s", err, sql)
	}
	return out
}

// Env is one test's database, with Haul's schema (dbtest.New), and folder.
// A package's tests embed it in a type of their own that adds their steps.
type Env struct {
	T    *testing.T
	Pool *pgxpool.Pool
	Dir  string
}

// NewEnv gives t a fresh database and folder, both gone when t ends.
func NewEnv(t *testing.T) *Env {
	t.Helper()
	return &Env{T: t, Pool: dbtest.Pool(t, dbtest.New(t)), Dir: t.TempDir()}
}
