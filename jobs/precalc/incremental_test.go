package precalc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/datagen"
)

// aggKeys are every rollup table the refresh writes, with the columns that
// identify a row.
var aggKeys = map[string][]string{
	"agg_totals":         {"grain", "period"},
	"agg_routes":         {"grain", "period", "origin", "destination", "delivery_time"},
	"agg_vehicles":       {"grain", "period", "vehicle_id"},
	"agg_vehicle_routes": {"vehicle_id", "period", "origin", "destination"},
	"agg_route_totals":   {"origin", "destination"},
	"agg_vehicle_info":   {"vehicle_id"},
}

// After a second run touching old and new days, an incremental refresh
// leaves every rollup row equal to what a full rebuild computes.
func TestIncrementalEqualsFullRebuild(t *testing.T) {
	e := newEnv(t)
	e.load("first", e.generate("first", datagen.Config{Shipments: 20_000, Cities: 40, FaultRate: 0.01}))
	first := e.refresh(false)
	// Old days (2025-06..12) and new ones (2026), with the same fleet.
	e.load("second", e.generate("second", datagen.Config{
		Shipments: 6_000, Cities: 40, Seed: 2, IDPrefix: "B", Vehicles: 20,
		From: day("2025-06-01"), To: day("2026-03-31"),
	}))
	second := e.refresh(false)
	if second.Full || second.Days >= first.Days || second.Days < 300 {
		t.Fatalf("second refresh: full %v, %d days (first %d): want an incremental refresh of the second run's days",
			second.Full, second.Days, first.Days)
	}

	ctx := context.Background()
	for table := range aggKeys {
		if _, err := e.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE snap_%s AS TABLE %s`, table, table)); err != nil {
			t.Fatal(err)
		}
	}
	full := e.refresh(true)
	if !full.Full || full.Version != second.Version+1 {
		t.Fatalf("full rebuild: %+v after version %d", full, second.Version)
	}
	for table := range aggKeys {
		if n := e.count(`SELECT count(*) FROM ` + table); n == 0 {
			t.Errorf("%s is empty after the full rebuild", table)
		}
		for _, tbl := range []string{table, "snap_" + table} {
			keys := strings.Join(aggKeys[table], ", ")
			if n := e.count(fmt.Sprintf(`SELECT count(*) - count(DISTINCT (%s)) FROM %s`, keys, tbl)); n != 0 {
				t.Errorf("%s: %d rows repeat a key (%s)", tbl, n, keys)
			}
		}
		if diff := tableDiff(t, e, table, "snap_"+table); diff != "" {
			t.Errorf("%s: incremental and full rebuild differ:\n%s", table, diff)
		}
	}
}

// tableDiff compares two tables of the same shape by aggKeys, floats
// with a relative tolerance (sums added in another order), the rest
// exactly, and describes up to five differing rows.
func tableDiff(t *testing.T, e *env, table, other string) string {
	t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `
SELECT attname, format_type(atttypid, atttypmod), attname = ANY($2)
FROM pg_attribute
WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum`, table, aggKeys[table])
	if err != nil {
		t.Fatal(err)
	}
	type column struct {
		name, typ string
		key       bool
	}
	var cols []column
	var c column
	if _, err := pgx.ForEachRow(rows, []any{&c.name, &c.typ, &c.key}, func() error {
		cols = append(cols, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var join, differ []string
	var keyA, keyB string
	for _, c := range cols {
		a, b := "a."+pgx.Identifier{c.name}.Sanitize(), "b."+pgx.Identifier{c.name}.Sanitize()
		switch {
		case c.key:
			join = append(join, a+" = "+b)
			keyA, keyB = a, b
		case c.typ == "double precision":
			differ = append(differ, fmt.Sprintf(
				"(%[1]s IS NULL) <> (%[2]s IS NULL) OR abs(%[1]s - %[2]s) > 1e-9 * greatest(1, abs(%[1]s))", a, b))
		default:
			differ = append(differ, a+" IS DISTINCT FROM "+b)
		}
	}
	if len(join) == 0 {
		t.Fatalf("no key columns for %s", table)
	}
	q := fmt.Sprintf(`SELECT to_jsonb(a)::text, to_jsonb(b)::text FROM %s a FULL JOIN %s b ON %s
		WHERE %s IS NULL OR %s IS NULL OR %s LIMIT 5`,
		pgx.Identifier{table}.Sanitize(), pgx.Identifier{other}.Sanitize(), strings.Join(join, " AND "),
		keyA, keyB, strings.Join(append(differ, "false"), " OR "))
	rows, err = e.pool.Query(ctx, q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	var out strings.Builder
	var x, y *string
	if _, err := pgx.ForEachRow(rows, []any{&x, &y}, func() error {
		fmt.Fprintf(&out, "  %s: %s\n  %s: %s\n", table, deref(x), other, deref(y))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func deref(s *string) string {
	if s == nil {
		return "(missing)"
	}
	return *s
}

// A refresh after a load spread over every day would redo nearly all the
// data: it takes the full path by itself and consumes the claim; a small
// load on a few days stays incremental. (That both paths compute the same
// rollups is TestIncrementalEqualsFullRebuild.)
func TestRefreshFallsBackToFullRebuild(t *testing.T) {
	e := newEnv(t)
	e.load("first", e.generate("first", datagen.Config{Shipments: 16_000, Cities: 40,
		From: day("2024-01-01"), To: day("2024-12-31")}))
	first := e.refresh(false)
	if !first.Full {
		t.Fatalf("first refresh: %+v, want the first version built whole", first)
	}
	e.load("spread", e.generate("spread", datagen.Config{Shipments: 3_000, Cities: 40, Seed: 2, IDPrefix: "B",
		Vehicles: 20, From: day("2024-01-01"), To: day("2024-12-31")}))
	spread := e.refresh(false)
	if !spread.Full || spread.Version != first.Version+1 || !slices.Equal(spread.Runs, []string{"spread"}) {
		t.Fatalf("refresh after a load over every day: %+v; want the full path, publishing run spread", spread)
	}
	e.assertNothingQueued()
	if n := e.count(`SELECT sum(shipments) FROM agg_totals WHERE grain = 2`); n != e.count(`SELECT count(*) FROM shipments`) {
		t.Errorf("after the full path the rollups count %d shipments, want every loaded one", n)
	}

	e.load("few", e.generate("few", datagen.Config{Shipments: 200, Cities: 40, Seed: 3, IDPrefix: "C",
		Vehicles: 20, From: day("2025-01-01"), To: day("2025-01-05")}))
	if few := e.refresh(false); few.Full || few.Days != 5 {
		t.Fatalf("refresh after a load on 5 new days: full %v, %d days; want incremental", few.Full, few.Days)
	}
}
