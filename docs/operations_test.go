package docs

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/mddoc"
	"github.com/haul-dev/haul/internal/testutil"
	"github.com/haul-dev/haul/jobs/ingest"
	"github.com/haul-dev/haul/jobs/precalc"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// pruneSQL is the block of docs/operations.md that prunes runs, as written.
func pruneSQL(t *testing.T) string {
	t.Helper()
	blocks := mddoc.CodeBlocks(section(t, "docs/operations.md", "retention"), "sql")
	if len(blocks) != 1 {
		t.Fatalf("docs/operations.md#retention has %d sql blocks, want the one that prunes", len(blocks))
	}
	return blocks[0]
}

// TestPruneSQLKeepsWhatIsNeeded runs docs/operations.md's prune on runs of
// every kind, old and recent: it removes old finished runs with what hangs
// off them and succeeded runs' checkpoints, and keeps recent runs, a failed
// run's checkpoints (so it can resume), runs the aggregates do not include
// yet, and every loaded record.
func TestPruneSQLKeepsWhatIsNeeded(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.Pool(t, dbtest.New(t))
	dir := t.TempDir()
	file := func(name, content string) string { return testutil.WriteFile(t, dir, name, content) }
	run := func(id string, inputs map[ingest.Dataset][]string, wantFail bool) {
		t.Helper()
		_, err := ingest.Run(ctx, pool, ingest.Options{RunID: id, Inputs: inputs, BatchSize: 1, Workers: 1,
			RejectsDir: filepath.Join(dir, "rejects"), Log: logr.Discard()})
		if (err != nil) != wantFail {
			t.Fatalf("run %s: %v", id, err)
		}
	}
	const shipment = `{"shipment_id": "%s", "origin": "A", "destination": "B", "weight": 1, "cost": 2, "delivery_time": 3, "log_id": "L-1"}`
	// shipments writes an array of shipments; cut, it ends inside a
	// record that rest completes.
	shipments := func(name string, cut bool, rest string, ids ...string) map[ingest.Dataset][]string {
		var recs []string
		for _, id := range ids {
			recs = append(recs, fmt.Sprintf(shipment, id))
		}
		content := "[" + strings.Join(recs, ",\n")
		if cut {
			content += ",\n{\"shipment_id\": " + rest
		}
		return map[ingest.Dataset][]string{ingest.Shipments: {file(name, content+"]")}}
	}
	const cut, whole = true, false

	run("old-ok", map[ingest.Dataset][]string{
		ingest.Vehicles:    {file("v.json", `[{"vehicle_id": "V-1", "name": "One", "total_mileage": 10}]`)},
		ingest.VehicleLogs: {file("l.json", `[{"log_id": "L-1", "vehicle_id": "V-1", "trip_date": "2024-01-01", "mileage": 5, "fuel_used": 1}]`)},
	}, false)
	run("old-failed", shipments("s1.json", cut, "", "S-1", "S-2"), true)
	run("recent-ok", shipments("s2.json", whole, "", "S-3"), false)
	run("recent-failed", shipments("s3.json", cut, "", "S-4"), true)
	if _, err := precalc.Refresh(ctx, pool, precalc.Options{Log: logr.Discard()}); err != nil {
		t.Fatal(err)
	}
	run("old-pending", shipments("s4.json", whole, "", "S-5"), false)
	exec(t, pool, `UPDATE ingest_runs SET started_at = started_at - interval '100 days',
		finished_at = finished_at - interval '100 days' WHERE run_id LIKE 'old-%'`)
	records := count(t, pool, `SELECT (SELECT count(*) FROM vehicles) + (SELECT count(*) FROM vehicle_logs) + (SELECT count(*) FROM shipments)`)
	for _, table := range []string{"ingest_checkpoints", "ingest_run_datasets", "ingest_run_days"} {
		if n := count(t, pool, `SELECT count(DISTINCT run_id) FROM `+table+` WHERE run_id LIKE 'old-%'`); n < 2 {
			t.Fatalf("%s holds rows of %d old runs before the prune; the test's runs went wrong", table, n)
		}
	}

	exec(t, pool, pruneSQL(t))

	if got := column(t, pool, `SELECT run_id FROM ingest_runs ORDER BY run_id`); !slices.Equal(got, []string{"old-pending", "recent-failed", "recent-ok"}) {
		t.Errorf("runs after the prune: %v; want the recent ones and the old one no refresh has taken", got)
	}
	for _, table := range []string{"ingest_run_datasets", "ingest_run_days"} {
		if got := column(t, pool, `SELECT DISTINCT run_id FROM `+table+` ORDER BY run_id`); slices.Contains(got, "old-ok") || slices.Contains(got, "old-failed") {
			t.Errorf("%s still holds rows of pruned runs: %v", table, got)
		}
	}
	if got := column(t, pool, `SELECT DISTINCT run_id FROM ingest_checkpoints ORDER BY run_id`); !slices.Equal(got, []string{"recent-failed"}) {
		t.Errorf("checkpoints of %v remain; want only the failed run's, which it resumes from", got)
	}
	if n := count(t, pool, `SELECT (SELECT count(*) FROM vehicles) + (SELECT count(*) FROM vehicle_logs) + (SELECT count(*) FROM shipments)`); n != records {
		t.Errorf("%d records after the prune, %d before", n, records)
	}

	// The run kept for the aggregates is still taken by the next refresh,
	// and the failed one still resumes once its file is whole.
	res, err := precalc.Refresh(ctx, pool, precalc.Options{Log: logr.Discard()})
	if err != nil || !res.Refreshed {
		t.Fatalf("refresh after the prune: %+v, %v; want old-pending's data refreshed", res, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM ingest_runs WHERE run_id = 'old-pending' AND precalc_version IS NOT NULL`); n != 1 {
		t.Error("old-pending is not marked as included by the refresh")
	}
	run("recent-failed", shipments("s3.json", cut, `"S-6", "origin": "A", "destination": "B", "weight": 1, "cost": 2, "delivery_time": 3, "log_id": "L-1"}`, "S-4"), false)
	if n := count(t, pool, `SELECT count(*) FROM shipments WHERE shipment_id IN ('S-4', 'S-6')`); n != 2 {
		t.Errorf("the resumed run left %d of S-4 and S-6, want both once", n)
	}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func column(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
