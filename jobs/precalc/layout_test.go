package precalc

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/dbtest"
)

// The rollups' layout is the migrations'. The rebuild names every column
// again (tableColumns, in the order its rows encode them), the refresh's
// SQL the ones it writes, db.AggregateTables the tables: a migration that
// changes a rollup fails here until they follow. (The readers' queries run
// in every answer test.)
func TestLayoutMatchesMigrations(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.New(t))
	rows, err := pool.Query(ctx, `
SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind = 'r' AND c.relname LIKE 'agg\_%' AND c.relnamespace = 'public'::regnamespace
GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	migrated := map[string][]string{}
	var table string
	var columns []string
	if _, err := pgx.ForEachRow(rows, []any{&table, &columns}, func() error {
		migrated[table] = columns
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(slices.Values(db.AggregateTables)), slices.Sorted(maps.Keys(migrated)); !slices.Equal(got, want) {
		t.Errorf("db.AggregateTables %v; the migrations make %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(tableColumns)), slices.Sorted(maps.Keys(migrated)); !slices.Equal(got, want) {
		t.Errorf("the rebuild writes %v; the migrations make %v", got, want)
	}
	for table, want := range migrated {
		if got := tableColumns[table]; !slices.Equal(got, want) {
			t.Errorf("the rebuild writes %s as %v; the migrations make %v", table, got, want)
		}
	}

	// Every statement of an incremental refresh, on no data, in a
	// transaction left undone.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	d := newDeltaRows(0)
	steps := append([]step{{name: "claim batches", stmts: claimBatchesSQL}, {name: "read new rows", run: d.read}},
		deltaSteps(true, d)...)
	if err := runSteps(ctx, tx, steps, logr.Discard()); err != nil {
		t.Errorf("an incremental refresh's SQL against the migrated tables: %v", err)
	}
}
