package precalc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/testutil/pgtest"
	"github.com/haul-dev/haul/jobs/precalc"
)

// Behaviour of one refresh: what it consumes, what it publishes, and what a
// failed or a concurrent one leaves behind.

// batchConfig is a small dataset over one quarter. Batches with different
// prefixes have different log and shipment ids and share the fleet.
func batchConfig(prefix string, seed uint64) datagen.Config {
	return datagen.Config{Shipments: 2000, Seed: seed, From: day("2024-01-01"), To: day("2024-03-31"), IDPrefix: prefix}
}

// loadBatch generates and loads a batch as run runID, and returns the
// number of days the run touched.
func (e *env) loadBatch(runID, prefix string, seed uint64) int64 {
	e.t.Helper()
	dir := e.generate(runID, batchConfig(prefix, seed))
	e.mustLoad(runID, dir)
	return e.count(`SELECT count(*) FROM ingest_run_days WHERE run_id = $1`, runID)
}

// mustLoad loads dir and fails the test unless the run succeeded.
func (e *env) mustLoad(runID, dir string, datasets ...datagen.Dataset) {
	e.t.Helper()
	if r := e.load(runID, dir, datasets...); !r.Succeeded() {
		e.t.Fatalf("run %s: status %s, error %+v", runID, r.Status, r.Error)
	}
}

// precalcState is the row of precalc_state.
type precalcState struct {
	version     int64
	lastError   *string
	lastErrorAt *time.Time
}

// orNull shows a nullable text column.
func orNull(s *string) string {
	if s == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", *s)
}

func (e *env) state() precalcState {
	e.t.Helper()
	var s precalcState
	if err := e.pool.QueryRow(context.Background(),
		`SELECT version, last_error, last_error_at FROM precalc_state`).Scan(&s.version, &s.lastError, &s.lastErrorAt); err != nil {
		e.t.Fatalf("read precalc_state: %v", err)
	}
	return s
}

// refreshRow is a row of precalc_refreshes.
type refreshRow struct {
	version int64
	full    bool
	days    int
	runs    []string
}

func (e *env) refreshRows() []refreshRow {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(),
		`SELECT version, full_build, days, runs FROM precalc_refreshes ORDER BY version`)
	if err != nil {
		e.t.Fatalf("read precalc_refreshes: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (refreshRow, error) {
		var x refreshRow
		return x, r.Scan(&x.version, &x.full, &x.days, &x.runs)
	})
	if err != nil {
		e.t.Fatalf("read precalc_refreshes: %v", err)
	}
	return out
}

func (e *env) isStale() bool {
	e.t.Helper()
	stale, err := precalc.Stale(context.Background(), e.pool)
	if err != nil {
		e.t.Fatal(err)
	}
	return stale
}

// runVersion is the version that first served run runID, or 0 for none yet.
func (e *env) runVersion(runID string) int64 {
	e.t.Helper()
	return e.count(`SELECT coalesce(precalc_version, 0) FROM ingest_runs WHERE run_id = $1`, runID)
}

// advisoryLocks counts the refresh locks held (granted) or waited for in
// the test's database.
func (e *env) advisoryLocks(granted bool) int64 {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND granted = $1
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND ((classid::bigint << 32) | objid::bigint) = $2`, granted, db.PrecalcLockID)
}

// assertLockFree checks that no session holds the refresh lock or waits
// for it, when says when.
func (e *env) assertLockFree(when string) {
	e.t.Helper()
	if n := e.advisoryLocks(true) + e.advisoryLocks(false); n != 0 {
		e.t.Errorf("%d refresh locks held or waited for %s", n, when)
	}
}

// assertSettled checks that nothing is queued and the lock is free.
func (e *env) assertSettled(when string) {
	e.t.Helper()
	e.assertNothingQueued()
	e.assertLockFree(when)
}

// assertNothingQueued checks that no day, batch or run waits for a refresh.
func (e *env) assertNothingQueued() {
	e.t.Helper()
	for _, table := range []string{"precalc_pending_runs", "precalc_dirty_days", "precalc_claimed_days",
		"precalc_dirty_batches"} {
		if n := e.count(`SELECT count(*) FROM ` + table); n != 0 {
			e.t.Errorf("%s has %d rows after the refresh, want none", table, n)
		}
	}
	if e.isStale() {
		e.t.Error("Stale is true after the refresh")
	}
}

func TestRefreshConsumesCompletedRun(t *testing.T) {
	e := newEnv(t)

	if res := e.refresh(false); res.Refreshed || res.Version != 0 || len(res.Runs) != 0 {
		t.Errorf("refresh of an empty database: %+v, want nothing done at version 0", res)
	}
	if got := e.state().version; got != 0 {
		t.Errorf("version %d after a refresh with nothing to do, want 0", got)
	}
	if rows := e.refreshRows(); len(rows) != 0 {
		t.Errorf("refresh with nothing to do recorded %+v", rows)
	}

	days := e.loadBatch("run-a", "", 1)
	if !e.isStale() {
		t.Fatal("Stale is false after a load")
	}
	res := e.refresh(false)
	if !res.Refreshed || res.Version != 1 || !res.Full || res.Days != int(days) || !slices.Equal(res.Runs, []string{"run-a"}) {
		t.Errorf("refresh after a load: %+v, want version 1, built whole, with run-a and its %d days", res, days)
	}
	if res.Started.IsZero() || res.Finished.Before(res.Started) {
		t.Errorf("refresh started %v and finished %v", res.Started, res.Finished)
	}
	if got := e.state().version; got != 1 {
		t.Errorf("precalc_state version %d, want 1", got)
	}
	if got := e.runVersion("run-a"); got != 1 {
		t.Errorf("run-a served from version %d, want 1", got)
	}
	want := []refreshRow{{version: 1, full: true, days: int(days), runs: []string{"run-a"}}}
	if got := e.refreshRows(); !equalRefreshRows(got, want) {
		t.Errorf("precalc_refreshes %+v, want %+v", got, want)
	}
	e.assertNothingQueued()

	if res := e.refresh(false); res.Refreshed || res.Version != 1 {
		t.Errorf("second refresh: %+v, want nothing done at version 1", res)
	}
	if n := len(e.refreshRows()); n != 1 {
		t.Errorf("%d refreshes recorded after a refresh with nothing to do, want 1", n)
	}
}

func TestRefreshAfterVehiclesOnlyRun(t *testing.T) {
	e := newEnv(t)
	e.loadBatch("run-a", "", 1)
	e.refresh(false)

	var id, name string
	if err := e.pool.QueryRow(context.Background(),
		`SELECT vehicle_id, name FROM agg_vehicle_info ORDER BY vehicle_id LIMIT 1`).Scan(&id, &name); err != nil {
		t.Fatalf("read agg_vehicle_info: %v", err)
	}
	const renamed = "Renamed by run-v"
	dir := filepath.Join(e.dir, "run-v")
	writeVehicles(t, dir, map[string]any{"vehicle_id": id, "name": renamed, "total_mileage": 4321.5})
	e.mustLoad("run-v", dir, datagen.Vehicles)

	if got := e.count(`SELECT count(*) FROM vehicles WHERE vehicle_id = $1 AND name = $2`, id, renamed); got != 1 {
		t.Fatalf("run-v did not replace vehicle %s", id)
	}
	if got := e.vehicleName(id); got != name {
		t.Errorf("agg_vehicle_info names %s %q before the refresh, want the served %q", id, got, name)
	}
	if n := e.count(`SELECT count(*) FROM precalc_dirty_days`); n != 0 {
		t.Errorf("a vehicles-only run touched %d days", n)
	}
	if !e.isStale() {
		t.Fatal("Stale is false after a vehicles-only run")
	}

	res := e.refresh(false)
	if !res.Refreshed || res.Version != 2 || res.Days != 0 || !slices.Equal(res.Runs, []string{"run-v"}) {
		t.Errorf("refresh after a vehicles-only run: %+v, want version 2 with run-v and no days", res)
	}
	if got := e.vehicleName(id); got != renamed {
		t.Errorf("agg_vehicle_info names %s %q after the refresh, want %q", id, got, renamed)
	}
	if got := e.count(`SELECT count(*) FROM agg_vehicle_info WHERE vehicle_id = $1 AND total_mileage = 4321.5`, id); got != 1 {
		t.Errorf("agg_vehicle_info does not have the re-delivered mileage of %s", id)
	}
	if got := e.runVersion("run-v"); got != 2 {
		t.Errorf("run-v served from version %d, want 2", got)
	}
	e.assertNothingQueued()
}

func (e *env) vehicleName(id string) string {
	e.t.Helper()
	var name string
	if err := e.pool.QueryRow(context.Background(),
		`SELECT name FROM agg_vehicle_info WHERE vehicle_id = $1`, id).Scan(&name); err != nil {
		e.t.Fatalf("agg_vehicle_info of %s: %v", id, err)
	}
	return name
}

// writeVehicles writes dir/vehicles.json, a JSON array of the records.
func writeVehicles(t *testing.T, dir string, records ...map[string]any) {
	t.Helper()
	b, err := json.Marshal(records)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, string(datagen.Vehicles)+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshFailureKeepsClaimAndRecordsError(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	daysA := e.loadBatch("run-a", "", 1)

	// The first build fails, with an SQL error and no cancel: a view holds
	// the name of its copy of agg_totals, which it cannot drop as a table.
	e.exec(`CREATE VIEW agg_totals_next AS SELECT 1 AS x`)
	res, err := precalc.Refresh(ctx, e.pool, precalc.Options{Log: logr.Discard()})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42809" {
		t.Fatalf("refresh against a view in its copy's name: %+v, error %v; want wrong object type 42809", res, err)
	}
	if res.Refreshed {
		t.Errorf("failed refresh says Refreshed: %+v", res)
	}

	st := e.state()
	if st.version != 0 {
		t.Errorf("version %d after a failed refresh, want 0", st.version)
	}
	if st.lastError == nil || st.lastErrorAt == nil {
		t.Fatalf("failed refresh left last_error %s at %v, want both set", orNull(st.lastError), st.lastErrorAt)
	}
	if msg := *st.lastError; !strings.HasPrefix(msg, "aggregate refresh failed") || strings.Contains(msg, "\n") ||
		!strings.Contains(msg, "42809") {
		t.Errorf("last_error %q: want one line, starting with %q, naming the error", msg, "aggregate refresh failed")
	}
	if got := e.count(`SELECT count(*) FROM precalc_claimed_days`); got != daysA {
		t.Errorf("%d claimed days after the failed refresh, want the run's %d", got, daysA)
	}
	if got := e.count(`SELECT count(*) FROM precalc_pending_runs WHERE run_id = 'run-a' AND claimed`); got != 1 {
		t.Error("run-a is no longer claimed after the failed refresh")
	}
	if got := e.runVersion("run-a"); got != 0 {
		t.Errorf("run-a served from version %d after a failed refresh", got)
	}
	if rows := e.refreshRows(); len(rows) != 0 {
		t.Errorf("failed refresh recorded %+v", rows)
	}
	for table, n := range e.aggregateCounts() {
		if n != 0 {
			t.Errorf("failed refresh left %s at %d, want its transaction rolled back", table, n)
		}
	}
	if !e.isStale() {
		t.Error("Stale is false after a failed refresh")
	}
	e.assertLockFree("after a failed refresh")

	// Work queued after the failure joins the claim the failure left.
	daysB := e.loadBatch("run-b", "B", 2)
	e.exec(`DROP VIEW agg_totals_next`)
	res = e.refresh(false)
	allDays := e.count(`SELECT count(DISTINCT day) FROM ingest_run_days`)
	if !res.Refreshed || res.Version != 1 || res.Days != int(allDays) || !slices.Equal(res.Runs, []string{"run-a", "run-b"}) {
		t.Errorf("refresh after the failure: %+v, want version 1 with run-a, run-b and %d days (%d + %d touched)",
			res, allDays, daysA, daysB)
	}
	if st := e.state(); st.version != 1 || st.lastError != nil || st.lastErrorAt != nil {
		t.Errorf("precalc_state after the successful refresh: version %d, last_error %s at %v; want 1, cleared",
			st.version, orNull(st.lastError), st.lastErrorAt)
	}
	for _, run := range []string{"run-a", "run-b"} {
		if got := e.runVersion(run); got != 1 {
			t.Errorf("%s served from version %d, want 1", run, got)
		}
	}
	e.assertSettled("after the refresh")
}

// A rebuild whose lanes died after one of them committed its copies left
// them behind: the next rebuild drops them and builds its own.
func TestRebuildDropsLeftoverCopies(t *testing.T) {
	e := newEnv(t)
	want := e.buildRunA()
	e.exec(`CREATE TABLE agg_routes_next AS TABLE agg_routes`)
	e.exec(`INSERT INTO agg_routes_next SELECT * FROM agg_routes LIMIT 1`)
	e.exec(`CREATE TABLE agg_vehicle_info_next (junk int)`)

	res := e.refresh(true)
	if !res.Refreshed || !res.Full || res.Version != 2 {
		t.Fatalf("rebuild over leftover copies: %+v", res)
	}
	if got := e.aggregateCounts(); !maps.Equal(got, want) {
		t.Errorf("rows after the rebuild %v, want %v as before", got, want)
	}
	if n := e.count(`SELECT count(*) FROM pg_class WHERE relname LIKE 'agg\_%\_next'`); n != 0 {
		t.Errorf("%d copies left after the rebuild", n)
	}
	// The copies are built with autovacuum off; the tables they became
	// have it back, and keep the storage options the migrations gave them.
	const wantOptions = "agg_totals fillfactor=70"
	if got := pgtest.Scalar[string](t, e.pool, `SELECT coalesce(string_agg(relname || ' ' || array_to_string(reloptions, ','), '; ' ORDER BY relname), '')
		FROM pg_class WHERE relname LIKE 'agg\_%' AND reloptions IS NOT NULL`); got != wantOptions {
		t.Errorf("rollup tables' storage options after the rebuild: %q, want %q", got, wantOptions)
	}
	// They come analyzed, with every page all-visible (their rows are
	// written frozen), for index-only scans from the start.
	if n := e.count(`SELECT count(*) FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
		WHERE s.relname IN ('agg_routes', 'agg_vehicles', 'agg_vehicle_routes')
		  AND s.analyze_count > 0 AND c.relpages > 0 AND c.relallvisible = c.relpages`); n != 3 {
		t.Errorf("%d of 3 rollup tables were analyzed and all-visible after the rebuild", n)
	}
}

// buildRunA loads run-a's batch, builds its aggregates and returns their
// row counts.
func (e *env) buildRunA() map[string]int64 {
	e.t.Helper()
	e.loadBatch("run-a", "", 1)
	e.refresh(false)
	return e.aggregateCounts()
}

// loadThreeYears loads 30,000 shipments over three years and builds their
// aggregates; it returns that build and the rows it made.
func (e *env) loadThreeYears() (precalc.Result, map[string]int64) {
	e.t.Helper()
	e.mustLoad("run-a", e.generate("run-a", datagen.Config{Shipments: 30_000, Cities: 25, Seed: 3}))
	return e.refresh(false), e.aggregateCounts()
}

// onCopyCreated runs the PL/pgSQL statement action whenever a rebuild
// creates its copy of agg_vehicle_routes, through an event trigger called
// name (dropped by DROP EVENT TRIGGER name).
func (e *env) onCopyCreated(name, action string) {
	e.t.Helper()
	e.exec(`CREATE FUNCTION ` + name + `() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity = 'public.agg_vehicle_routes_next') THEN
		` + action + `;
	END IF;
END$$`)
	e.exec(`CREATE EVENT TRIGGER ` + name + ` ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION ` + name + `()`)
}

// A rebuild whose copy of agg_vehicle_routes refuses rows part-way, while
// the other copies load and haul adds up, fails whole: the error is the
// refused row's, the served version and its rows stay, and the next
// rebuild succeeds.
func TestRebuildFailsWholeWhenACopyFails(t *testing.T) {
	e := newEnv(t)
	// Three years of data, of which the copy refuses 2024's and 2025's,
	// while haul still writes it, a megabyte at a time.
	first, want := e.loadThreeYears()
	e.onCopyCreated("refresh_test_check",
		`ALTER TABLE agg_vehicle_routes_next ADD CONSTRAINT before_2024 CHECK (period < '2024-01-01')`)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := precalc.Refresh(ctx, e.pool, precalc.Options{Full: true, Log: logr.Discard()})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != "before_2024" {
		t.Fatalf("rebuild with a copy refusing rows: %+v, error %v; want the check violation", res, err)
	}
	if ctx.Err() != nil {
		t.Fatal("the failed rebuild took a minute: a side waited for another")
	}
	if st := e.state(); st.version != first.Version || st.lastError == nil || !strings.Contains(*st.lastError, "23514") {
		t.Errorf("after the failed rebuild: version %d, last_error %s; want %d and the violation",
			st.version, orNull(st.lastError), first.Version)
	}
	if got := e.aggregateCounts(); !maps.Equal(got, want) {
		t.Errorf("rows after the failed rebuild %v, want %v as before", got, want)
	}

	e.exec(`DROP EVENT TRIGGER refresh_test_check`)
	if res := e.refresh(true); !res.Refreshed || res.Version != first.Version+1 {
		t.Fatalf("rebuild after the failure: %+v", res)
	}
	if got := e.aggregateCounts(); !maps.Equal(got, want) {
		t.Errorf("rows after the next rebuild %v, want %v", got, want)
	}
	if n := e.count(`SELECT count(*) FROM pg_class WHERE relname LIKE 'agg\_%\_next'`); n != 0 {
		t.Errorf("%d copies left after the next rebuild", n)
	}
}

// A rebuild cancelled while it streams (SIGTERM to haul precalc) returns
// at once with the cancel, leaves the served version, and leaves nothing
// that stops the next rebuild.
func TestRebuildCancelledWhileStreaming(t *testing.T) {
	e := newEnv(t)
	first, want := e.loadThreeYears()
	// The copy of agg_vehicle_routes is slow to create: its stream is
	// full and waiting when the rebuild is cancelled.
	e.onCopyCreated("refresh_test_stall", `PERFORM pg_sleep(60)`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := precalc.Refresh(ctx, e.pool, precalc.Options{Full: true, Log: logr.Discard()})
		done <- err
	}()
	e.waitFor("the copy's creation to stall", func() bool {
		return e.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()`) == 1
	})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled rebuild returned %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled rebuild had not returned after 20 s")
	}
	// A cancel is not the data's fault: nothing is recorded against it.
	if st := e.state(); st.version != first.Version || st.lastError != nil {
		t.Errorf("after the cancelled rebuild: version %d, last_error %s; want %d and none",
			st.version, orNull(st.lastError), first.Version)
	}
	if got := e.aggregateCounts(); !maps.Equal(got, want) {
		t.Errorf("rows after the cancelled rebuild %v, want %v as before", got, want)
	}

	e.exec(`DROP EVENT TRIGGER refresh_test_stall`)
	e.waitFor("the stalled statement to end", func() bool {
		return e.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()`) == 0
	})
	if res := e.refresh(true); !res.Refreshed || res.Version != first.Version+1 {
		t.Fatalf("rebuild after the cancelled one: %+v", res)
	}
	if got := e.aggregateCounts(); !maps.Equal(got, want) {
		t.Errorf("rows after the next rebuild %v, want %v", got, want)
	}
}

// TestRefreshRecordsLongMultibyteError: the failure is recorded whatever
// its message; one cut in the middle of a character must not be refused.
func TestRefreshRecordsLongMultibyteError(t *testing.T) {
	e := newEnv(t)
	e.loadBatch("run-a", "", 1)
	e.refresh(false)
	e.loadBatch("run-b", "B", 2)
	// The incremental refresh fails on its first row of agg_totals, with
	// 23 bytes of "database error P0001: x", then two-byte characters: the
	// 300-byte cut falls inside one.
	e.exec(`CREATE FUNCTION refresh_test_fail() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'x%', repeat('é', 400); END$$`)
	e.exec(`CREATE TRIGGER refresh_test_fail BEFORE INSERT ON agg_totals FOR EACH ROW EXECUTE FUNCTION refresh_test_fail()`)
	if _, err := precalc.Refresh(context.Background(), e.pool, precalc.Options{Log: logr.Discard()}); err == nil {
		t.Fatal("refresh succeeded despite the failing trigger")
	}
	st := e.state()
	if st.lastError == nil {
		t.Fatal("the failure was not recorded")
	}
	if !strings.HasPrefix(*st.lastError, "aggregate refresh failed: database error P0001: xé") {
		t.Errorf("last_error %q", *st.lastError)
	}
}

func TestRefreshConcurrentCallsRefreshOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	days := e.loadBatch("run-a", "", 1)

	// Hold the refresh lock, so that both calls are waiting for it at once.
	holder, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Close(ctx) }()
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, db.PrecalcLockID); err != nil {
		t.Fatal(err)
	}

	results := make([]precalc.Result, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = precalc.Refresh(ctx, e.pool, precalc.Options{Log: logr.Discard()})
		})
	}
	e.waitFor("both refreshes to wait for the lock", func() bool { return e.advisoryLocks(false) == 2 })
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, db.PrecalcLockID); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	refreshed := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Errorf("refresh %d: %v", i, errs[i])
		}
		if res.Version != 1 {
			t.Errorf("refresh %d: %+v, want version 1", i, res)
		}
		if res.Refreshed {
			refreshed++
			if res.Days != int(days) || !slices.Equal(res.Runs, []string{"run-a"}) {
				t.Errorf("refresh %d: %+v, want run-a and its %d days", i, res, days)
			}
		}
	}
	if refreshed != 1 {
		t.Errorf("%d of 2 concurrent refreshes did something, want 1: %+v", refreshed, results)
	}
	if rows := e.refreshRows(); len(rows) != 1 {
		t.Errorf("precalc_refreshes %+v, want one row", rows)
	}
	e.assertSettled("after both refreshes returned")
}

func TestRefreshFullOnUpToDateDatabase(t *testing.T) {
	e := newEnv(t)
	before := e.buildRunA()

	res := e.refresh(true)
	days := e.count(`SELECT count(DISTINCT trip_date) FROM vehicle_logs`)
	if !res.Refreshed || !res.Full || res.Version != 2 || res.Days != int(days) || len(res.Runs) != 0 {
		t.Errorf("full rebuild: %+v, want version 2 over all %d days and no run", res, days)
	}
	want := []refreshRow{
		{version: 1, full: true, days: int(e.count(`SELECT count(*) FROM ingest_run_days`)), runs: []string{"run-a"}},
		{version: 2, full: true, days: int(days), runs: []string{}},
	}
	if got := e.refreshRows(); !equalRefreshRows(got, want) {
		t.Errorf("precalc_refreshes %+v, want %+v", got, want)
	}
	if got := e.state().version; got != 2 {
		t.Errorf("precalc_state version %d, want 2", got)
	}
	if got := e.runVersion("run-a"); got != 1 {
		t.Errorf("run-a served from version %d after the full rebuild, want still 1", got)
	}
	if after := e.aggregateCounts(); !maps.Equal(after, before) {
		t.Errorf("aggregate rows %v after the full rebuild, %v before", after, before)
	}
	e.assertNothingQueued()
}

// aggregateCounts is the number of rows of each aggregate table, and the
// integer totals of agg_totals, which a rebuild of the same data must
// reproduce.
func (e *env) aggregateCounts() map[string]int64 {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name LIKE 'agg\_%' ORDER BY 1`)
	if err != nil {
		e.t.Fatalf("list aggregate tables: %v", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		e.t.Fatalf("list aggregate tables: %v %v", tables, err)
	}
	out := map[string]int64{}
	for _, table := range tables {
		out[table] = e.count(`SELECT count(*) FROM ` + pgx.Identifier{table}.Sanitize())
	}
	for _, col := range []string{"logs", "shipments"} {
		out["agg_totals."+col] = e.count(`SELECT coalesce(sum(` + col + `), 0)::bigint FROM agg_totals`)
	}
	return out
}

func equalRefreshRows(a, b []refreshRow) bool {
	return slices.EqualFunc(a, b, func(x, y refreshRow) bool {
		return x.version == y.version && x.full == y.full && x.days == y.days && slices.Equal(x.runs, y.runs)
	})
}

func (e *env) exec(sql string) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// waitFor polls cond until it holds, and fails the test after 30 s.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The rebuild and the refresh compress the rollups' arrays with lz4 where
// the server has it (compressSQL), else with PostgreSQL's default, pglz.
func TestArraysCompressedWithLZ4(t *testing.T) {
	e := newEnv(t)
	method := "pglz"
	if e.count(`SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)`) > 0 {
		method = "lz4"
	}
	// Thousands of entries a day: rows large enough to be compressed.
	e.load("first", e.generate("first", datagen.Config{Shipments: 6_000, Cities: 60,
		From: day("2025-01-01"), To: day("2025-01-03")}))
	if res := e.refresh(false); !res.Full {
		t.Fatal("the first refresh did not rebuild")
	}
	e.load("second", e.generate("second", datagen.Config{Shipments: 3_000, Cities: 60, Seed: 2, IDPrefix: "B",
		From: day("2025-01-04"), To: day("2025-01-04")}))
	if res := e.refresh(false); res.Full {
		t.Fatal("the second refresh took the full path")
	}
	for rows, want := range map[string]int64{"the rebuild's": 3, "the refresh's": 1} {
		segments := map[string]string{"the rebuild's": "segment <= 0", "the refresh's": "segment > 0"}[rows]
		q := `SELECT count(*) FROM agg_routes WHERE ` + segments + ` AND pg_column_compression(origins) = '` + method + `'`
		if n := e.count(q); n != want {
			t.Errorf("%d of %s rows of agg_routes are compressed with %s, want %d", n, rows, method, want)
		}
	}
}
