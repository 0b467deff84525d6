package precalc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/jobs/ingest"
	"github.com/haul-dev/haul/jobs/precalc"
)

// aggKeys are every rollup table the refresh writes, with the columns that
// identify a row of its figures (aggFigures); agg_origin_vehicles' are
// agg_route_vehicles'.
var aggKeys = map[string][]string{
	"agg_totals":         {"grain", "period"},
	"agg_routes":         {"period", "origin", "destination", "delivery_time"},
	"agg_vehicles":       {"grain", "period", "vehicle_id"},
	"agg_vehicle_days":   {"vehicle_id", "day"},
	"agg_vehicle_routes": {"vehicle_id", "day", "origin", "destination"},
	"agg_route_vehicles": {"origin", "destination", "day", "vehicle_id"},
	"agg_route_totals":   {"origin", "destination"},
	"agg_vehicle_info":   {"vehicle_id"},
}

// aggFigures lists a rollup table's figures, a row per key. The array
// tables keep a key's figures in the arrays of one or more rows (the
// rebuild's, the refreshes' segments): their elements are added up.
func aggFigures(table string) string {
	switch table {
	case "agg_routes":
		return `SELECT period, o AS origin, de AS destination, dt AS delivery_time, sum(n) AS shipments,
		        sum(c) AS sum_cost, sum(w) AS sum_weight, sum(cpk) AS sum_cpk, sum(cpt) AS sum_cpt
		 FROM agg_routes,
		      unnest(origins, destinations, delivery_times, shipments, sum_cost, sum_weight, sum_cpk, sum_cpt)
		      AS u(o, de, dt, n, c, w, cpk, cpt)
		 GROUP BY 1, 2, 3, 4`
	case "agg_vehicle_routes":
		return `SELECT vehicle_id, d AS day, o AS origin, de AS destination, sum(t) AS trips, sum(n) AS shipments,
		        sum(c) AS sum_cost, sum(dt) AS sum_dt
		 FROM agg_vehicle_routes, unnest(days, origins, destinations, trips, shipments, sum_cost, sum_dt)
		      AS u(d, o, de, t, n, c, dt)
		 GROUP BY 1, 2, 3, 4`
	case "agg_vehicle_days":
		return `SELECT vehicle_id, d AS day, sum(t) AS trips, sum(m) AS mileage, sum(f) AS fuel, sum(n) AS shipments,
		        sum(c) AS sum_cost, sum(dt) AS sum_dt
		 FROM agg_vehicle_days, unnest(days, trips, mileage, fuel, shipments, sum_cost, sum_dt)
		      AS u(d, t, m, f, n, c, dt)
		 GROUP BY 1, 2`
	case "agg_route_vehicles":
		return `SELECT DISTINCT origin, destination, d AS day, v AS vehicle_id
		 FROM agg_route_vehicles, unnest(days, vehicle_ids) AS u(d, v)
		 UNION
		 SELECT origin, de, d, v FROM agg_origin_vehicles, unnest(destinations, days, vehicle_ids) AS u(de, d, v)`
	case "agg_route_totals":
		return `SELECT origin, de AS destination, sum(n) AS shipments, sum(c) AS sum_cost, sum(w) AS sum_weight,
		        sum(dt) AS sum_dt, min(mi) AS min_dt, max(ma) AS max_dt, sum(uv) AS unique_vehicles
		 FROM agg_route_totals,
		      unnest(destinations, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles)
		      AS u(de, n, c, w, dt, mi, ma, uv)
		 GROUP BY 1, 2`
	case "agg_vehicles":
		return `SELECT grain, period, v AS vehicle_id, sum(t) AS trips, sum(m) AS mileage, sum(f) AS fuel,
		        sum(n) AS shipments, sum(c) AS sum_cost, sum(dt) AS sum_dt
		 FROM agg_vehicles, unnest(vehicle_ids, trips, mileage, fuel, shipments, sum_cost, sum_dt)
		      AS u(v, t, m, f, n, c, dt)
		 GROUP BY 1, 2, 3`
	}
	return `TABLE ` + table
}

// After a second run touching old and new days, an incremental refresh
// leaves every rollup row equal to what a full rebuild computes: with the
// state kept beside the rollups (the filter of stored route vehicles, the
// vehicles' days with shipments); without it (after migration 00013, until
// a rebuild writes it), when everything is looked up in the rollups; and
// with state of an earlier version (an older haul published the last one
// without it), emptied here, which the refresh must not use.
func TestIncrementalEqualsFullRebuild(t *testing.T) {
	for _, c := range []struct {
		state  string
		change string
	}{
		{"current", ""},
		{"none", `DELETE FROM precalc_refresh_state`},
		{"stale", `UPDATE precalc_refresh_state SET version = version - 1,
		           data = CASE name WHEN 'route_vehicle_sets' THEN decode('0000', 'hex') ELSE '' END`},
	} {
		t.Run("state="+c.state, func(t *testing.T) {
			e := newEnv(t)
			e.load("first", e.generate("first", datagen.Config{Shipments: 20_000, Cities: 40, FaultRate: 0.01}))
			first := e.refresh(false)
			if c.change != "" {
				e.exec(c.change)
			}
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
			current := e.count(`SELECT count(*) FROM precalc_refresh_state JOIN precalc_state USING (version)`)
			if want := c.state == "current"; (current == 2) != want {
				t.Errorf("%d kinds of state of the refreshed version; want both: %v", current, want)
			}
			e.assertEqualsFullRebuild(second)
		})
	}
}

// assertStateMatches checks that the state kept beside the rollups, where
// there is some of the current version, matches them: the route vehicle
// sets hold exactly the pairs of a route and a vehicle the rollups hold,
// and the vehicles' days with shipments are exactly the rollups'.
func (e *env) assertStateMatches(when string) {
	e.t.Helper()
	ctx := context.Background()
	missing, extra, ok, err := precalc.RouteVehicleSetsMismatch(ctx, e.pool)
	if err != nil {
		e.t.Fatal(err)
	}
	if ok && missing+extra > 0 {
		e.t.Errorf("%s: the route vehicle sets lack %d stored pairs and hold %d more", when, missing, extra)
	}
	missing, extra, ok, err = precalc.ShipDaysMismatch(ctx, e.pool)
	if err != nil {
		e.t.Fatal(err)
	}
	if ok && missing+extra > 0 {
		e.t.Errorf("%s: the vehicle ship days lack %d stored days and hold %d more", when, missing, extra)
	}
}

// assertEqualsFullRebuild checks that every rollup row after the refresh
// inc equals what a full rebuild of the same data computes.
func (e *env) assertEqualsFullRebuild(inc precalc.Result) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	for table := range aggKeys {
		if _, err := e.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE snap_%s AS %s`, table, aggFigures(table))); err != nil {
			t.Fatal(err)
		}
	}
	e.assertStateMatches("after the incremental refresh")
	e.assertEntriesInOrder("after the incremental refresh")
	full := e.refresh(true)
	if !full.Full || full.Version != inc.Version+1 {
		t.Fatalf("full rebuild: %+v after version %d", full, inc.Version)
	}
	if n := e.count(`SELECT count(*) FROM precalc_refresh_state JOIN precalc_state USING (version)`); n != 2 {
		t.Errorf("the full rebuild wrote %d kinds of state of its version, want 2", n)
	}
	e.assertStateMatches("after the full rebuild")
	e.assertEntriesInOrder("after the full rebuild")
	for table := range aggKeys {
		if _, err := e.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE full_%s AS %s`, table, aggFigures(table))); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT count(*) FROM full_` + table); n == 0 {
			t.Errorf("%s is empty after the full rebuild", table)
		}
		for _, tbl := range []string{"full_" + table, "snap_" + table} {
			keys := strings.Join(aggKeys[table], ", ")
			if n := e.count(fmt.Sprintf(`SELECT count(*) - count(DISTINCT (%s)) FROM %s`, keys, tbl)); n != 0 {
				t.Errorf("%s: %d rows repeat a key (%s)", tbl, n, keys)
			}
		}
		if diff := tableDiff(t, e, table, "full_"+table, "snap_"+table); diff != "" {
			t.Errorf("%s: incremental and full rebuild differ:\n%s", table, diff)
		}
	}
}

// assertEntriesInOrder checks that every row of the array tables lists its
// entries in the order docs/architecture.md gives, names compared by byte:
// a day's routes by route and delivery time, a vehicle's days and a route's
// vehicles by day, an origin's by destination and day.
func (e *env) assertEntriesInOrder(when string) {
	e.t.Helper()
	for _, c := range []struct{ table, key, entry, arrays, as, back string }{
		{"agg_routes", "period, segment", `o COLLATE "C", de COLLATE "C", dt`, "origins, destinations, delivery_times",
			"o, de, dt", "<="},
		{"agg_vehicle_routes", "vehicle_id, period, segment", "d", "days", "d", "<"},
		{"agg_route_vehicles", "origin, destination, segment", "d", "days", "d", "<"},
		{"agg_origin_vehicles", "origin, segment", `de COLLATE "C", d`, "destinations, days", "de, d", "<"},
		{"agg_vehicle_days", "vehicle_id, period, segment", "d", "days", "d", "<="},
	} {
		n := e.count(fmt.Sprintf(`SELECT count(*) FROM (
    SELECT ROW(%[3]s) %[6]s lag(ROW(%[3]s)) OVER (PARTITION BY %[2]s ORDER BY i) AS back
    FROM %[1]s, unnest(%[4]s) WITH ORDINALITY AS u(%[5]s, i)) x
WHERE back`, c.table, c.key, c.entry, c.arrays, c.as, c.back))
		if n != 0 {
			e.t.Errorf("%s: %d entries of %s are out of order", when, n, c.table)
		}
	}
}

// Refreshes append a segment of the array tables' rows per key they touch;
// past maxSegments (8) a key's appended segments are merged into one, the
// rebuild's left as they are, and the figures stay a full rebuild's. The
// first eight refreshes after the rebuild cannot take a key past it, and
// do not look.
func TestRefreshMergesVehicleRouteSegments(t *testing.T) {
	e := newEnv(t)
	e.load("first", e.generate("first", datagen.Config{Shipments: 2_000, Vehicles: 4, Cities: 6,
		From: day("2025-01-01"), To: day("2025-03-31")}))
	e.refresh(false)
	rebuilt := e.count(`SELECT count(*) FROM agg_vehicle_routes WHERE segment <= 0`)
	// The same four vehicles and three routes, every refresh.
	for i := range 10 {
		name := fmt.Sprintf("run-%d", i)
		e.load(name, e.generate(name, datagen.Config{Shipments: 60, Vehicles: 4, Cities: 3, Seed: uint64(10 + i),
			IDPrefix: fmt.Sprintf("R%d-", i), From: day("2025-02-01"), To: day("2025-02-28")}))
		res, log := e.refreshLogged(false)
		if res.Full {
			t.Fatalf("refresh %d took the full path", i)
		}
		looked := slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, `"step"="merge segments"`) })
		if want := i >= 8; looked != want {
			t.Errorf("refresh %d after the rebuild: merge step run %v, want %v", i+1, looked, want)
		}
	}
	// Ten refreshes touched each key: one merge, then one more segment. An
	// origin's rows of agg_origin_vehicles are folded into a segment of
	// each of its routes, and the next refresh appends one more row.
	for _, c := range []struct {
		q    string
		want int64
	}{
		{`SELECT max(n) FROM (SELECT count(*) AS n FROM agg_vehicle_routes WHERE segment > 0 GROUP BY vehicle_id, period) x`, 2},
		{`SELECT max(n) FROM (SELECT count(*) AS n FROM agg_vehicle_days WHERE segment > 0 GROUP BY vehicle_id, period) x`, 2},
		{`SELECT max(n) FROM (SELECT count(*) AS n FROM agg_vehicles WHERE segment > 0 GROUP BY grain, period) x`, 2},
		{`SELECT max(n) FROM (SELECT count(*) AS n FROM agg_route_totals WHERE segment > 0 GROUP BY origin) x`, 2},
		{`SELECT max(n) FROM (SELECT count(*) AS n FROM agg_route_vehicles WHERE segment > 0 GROUP BY origin, destination) x`, 1},
		{`SELECT max(n) FROM (SELECT count(*) AS n FROM agg_origin_vehicles GROUP BY origin) x`, 1},
	} {
		if n := e.count(c.q); n != c.want {
			t.Errorf("%s: %d, want %d appended segments left after ten refreshes", c.q, n, c.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM agg_vehicle_routes WHERE segment <= 0`); n != rebuilt {
		t.Errorf("%d rows of the rebuild left, want all %d", n, rebuilt)
	}
	e.assertEqualsFullRebuild(precalc.Result{Version: 11})
}

// Each refresh stores the route vehicle sets as a delta after the base the
// last rebuild wrote; the sets of a version are the base and every delta
// since. With one missing (an older haul published that version), the
// next refresh makes the sets from the rollups and writes them as a base.
func TestRouteVehicleSetsDeltas(t *testing.T) {
	e := newEnv(t)
	e.load("first", e.generate("first", datagen.Config{Shipments: 2_000, Vehicles: 8, Cities: 12}))
	e.refresh(false)
	const deltasSQL = `SELECT count(*) FROM precalc_refresh_state WHERE name LIKE 'route\_vehicle\_sets+%'`
	refresh := func(i int) []string {
		name := fmt.Sprintf("run-%d", i)
		e.load(name, e.generate(name, datagen.Config{Shipments: 200, Vehicles: 12, Cities: 14, Seed: uint64(10 + i),
			IDPrefix: fmt.Sprintf("R%d-", i)}))
		res, log := e.refreshLogged(false)
		if res.Full {
			t.Fatalf("refresh %d took the full path", i)
		}
		return log
	}
	made := func(log []string) bool {
		return slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, "route vehicle sets made from the rollups") })
	}
	for i := range 3 {
		if made(refresh(i)) {
			t.Fatalf("refresh %d made the sets from the rollups", i)
		}
		if n := e.count(deltasSQL); n != int64(i+1) {
			t.Fatalf("after refresh %d: %d deltas stored, want %d", i, n, i+1)
		}
		e.assertStateMatches(fmt.Sprintf("after refresh %d", i))
	}
	e.exec(`DELETE FROM precalc_refresh_state WHERE name = 'route_vehicle_sets+' || ((SELECT version FROM precalc_state) - 1)`)
	if !made(refresh(3)) {
		t.Error("a refresh used the sets with a delta missing")
	}
	if n := e.count(deltasSQL); n != 0 {
		t.Errorf("%d deltas stored after the sets were made again, want 0", n)
	}
	e.assertStateMatches("after the sets were made again")
	if made(refresh(4)) || e.count(deltasSQL) != 1 {
		t.Error("the refresh after did not add a delta to the new base")
	}
	e.assertEqualsFullRebuild(precalc.Result{Version: 6})
}

// Shipments loaded after their logs, by a later run: on logs that carried
// the same route before, another route, or nothing yet. A log counts once
// in trips and carrying mileage however many runs load its shipments.
func TestIncrementalShipmentsOnEarlierLogs(t *testing.T) {
	e := newEnv(t)
	e.load("first", e.generate("first", datagen.Config{Shipments: 3_000, Cities: 30}))
	e.refresh(false)
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `
(SELECT l.log_id, s.origin, s.destination, 'same route' FROM vehicle_logs l
 JOIN LATERAL (SELECT origin, destination FROM shipments s WHERE s.log_id = l.log_id LIMIT 1) s ON true
 ORDER BY l.log_id LIMIT 40)
UNION ALL
(SELECT l.log_id, 'Nowhere', 'Elsewhere', 'other route' FROM vehicle_logs l
 WHERE EXISTS (SELECT 1 FROM shipments s WHERE s.log_id = l.log_id) ORDER BY l.log_id DESC LIMIT 40)
UNION ALL
(SELECT l.log_id, 'Nowhere', 'Elsewhere', 'no shipment yet' FROM vehicle_logs l
 WHERE NOT EXISTS (SELECT 1 FROM shipments s WHERE s.log_id = l.log_id) ORDER BY l.log_id LIMIT 40)`)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	kinds := map[string]int{}
	var logID, origin, destination, kind string
	if _, err := pgx.ForEachRow(rows, []any{&logID, &origin, &destination, &kind}, func() error {
		kinds[kind]++
		// Twice on some logs: both new shipments count the log once.
		for k := range 1 + len(recs)%2 {
			recs = append(recs, map[string]any{"shipment_id": fmt.Sprintf("LATE-%d-%d", len(recs), k),
				"origin": origin, "destination": destination, "weight": 2.5, "cost": 10 + len(recs),
				"delivery_time": 1 + len(recs)%7, "log_id": logID})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 3 {
		t.Fatalf("found logs of kinds %v, want all three", kinds)
	}
	dir := filepath.Join(e.dir, "late")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shipments.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := e.load("late", dir, datagen.Shipments); rep.Datasets[0].Loaded != int64(len(recs)) {
		t.Fatalf("loaded %d of %d late shipments", rep.Datasets[0].Loaded, len(recs))
	}
	late := e.refresh(false)
	if late.Full {
		t.Fatalf("refresh after late shipments took the full path: %+v", late)
	}
	e.assertEqualsFullRebuild(late)
}

// Refreshes run while a load commits its batches: each batch is added by
// exactly one of them, and after the last the rollups equal a full rebuild.
func TestRefreshWhileLoadingAddsEachBatchOnce(t *testing.T) {
	e := newEnv(t)
	e.load("first", e.generate("first", datagen.Config{Shipments: 2_000, Cities: 30}))
	e.refresh(false)
	dir := e.generate("second", datagen.Config{Shipments: 6_000, Cities: 30, Seed: 2, IDPrefix: "B", Vehicles: 20,
		From: day("2025-06-01"), To: day("2026-03-31")})
	inputs := map[ingest.Dataset][]string{}
	for _, ds := range []datagen.Dataset{datagen.VehicleLogs, datagen.Shipments} {
		inputs[ds] = []string{filepath.Join(dir, string(ds)+".json")}
	}
	loaded := make(chan error, 1)
	go func() {
		_, err := ingest.Run(context.Background(), e.pool, ingest.Options{RunID: "second", Inputs: inputs,
			RejectsDir: filepath.Join(e.dir, "rejects"), BatchSize: 100, Log: logr.Discard()})
		loaded <- err
	}()
	var during []precalc.Result
	for done := false; !done; {
		select {
		case err := <-loaded:
			if err != nil {
				t.Fatalf("ingest: %v", err)
			}
			done = true
		default:
			if res := e.refresh(false); res.Refreshed {
				during = append(during, res)
			}
		}
	}
	last := e.refresh(false)
	if !last.Refreshed {
		last = during[len(during)-1]
	}
	if len(during) < 2 {
		t.Errorf("%d refreshes published versions while the load ran, want several", len(during))
	}
	for _, r := range append(during, last) {
		if r.Full {
			t.Errorf("refresh %+v took the full path", r)
		}
	}
	e.assertNothingQueued()
	e.assertEqualsFullRebuild(last)
}

// Rows an older haul loads during an upgrade carry no batch number
// (load_batch -1) and queue only their days: the next refresh, incremental
// or full, numbers them and adds them once.
func TestRefreshAdoptsUnnumberedRows(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full=%v", full), func(t *testing.T) {
			e := newEnv(t)
			e.load("first", e.generate("first", datagen.Config{Shipments: 2_000, Cities: 30}))
			e.refresh(false)
			// As migration 00005's ingest wrote them: no load_batch, days queued.
			e.exec(`INSERT INTO vehicle_logs (log_id, vehicle_id, trip_date, mileage, fuel_used)
				SELECT 'OLD-' || log_id, vehicle_id, trip_date + 1, mileage, fuel_used FROM vehicle_logs LIMIT 50`)
			e.exec(`INSERT INTO shipments (shipment_id, origin, destination, weight, cost, delivery_time, log_id,
				trip_date, vehicle_id)
				SELECT 'OLD-' || shipment_id, origin, destination, weight, cost, delivery_time, 'OLD-' || s.log_id,
				       l.trip_date, l.vehicle_id
				FROM shipments s JOIN vehicle_logs l ON l.log_id = 'OLD-' || s.log_id`)
			e.exec(`INSERT INTO precalc_dirty_days (day) SELECT DISTINCT trip_date FROM vehicle_logs
				WHERE log_id LIKE 'OLD-%' ON CONFLICT DO NOTHING`)
			if n := e.count(`SELECT count(*) FROM shipments WHERE load_batch = -1`); n == 0 {
				t.Fatal("no unnumbered shipments to adopt")
			}
			res := e.refresh(full)
			if res.Full != full {
				t.Fatalf("refresh: %+v, want full %v", res, full)
			}
			e.assertNothingQueued()
			if n := e.count(`SELECT count(*) FROM shipments WHERE load_batch = -1`); n != 0 {
				t.Errorf("%d shipments left unnumbered after the refresh", n)
			}
			if n := e.count(`SELECT sum(shipments) FROM agg_totals WHERE grain = 2`); n != e.count(`SELECT count(*) FROM shipments`) {
				t.Errorf("the rollups count %d shipments, want every loaded one", n)
			}
			if n := e.count(`SELECT sum(logs) FROM agg_totals WHERE grain = 2`); n != e.count(`SELECT count(*) FROM vehicle_logs`) {
				t.Errorf("the rollups count %d logs, want every loaded one", n)
			}
			e.assertEqualsFullRebuild(res)
		})
	}
}

// tableDiff compares two copies, one and other, of a rollup table's
// figures by aggKeys[table], floats with a relative tolerance (sums added
// in another order), the rest exactly, and describes up to five differing
// rows.
func tableDiff(t *testing.T, e *env, table, one, other string) string {
	t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `
SELECT attname, format_type(atttypid, atttypmod), attname = ANY($2)
FROM pg_attribute
WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum`, one, aggKeys[table])
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
		pgx.Identifier{one}.Sanitize(), pgx.Identifier{other}.Sanitize(), strings.Join(join, " AND "),
		keyA, keyB, strings.Join(append(differ, "false"), " OR "))
	rows, err = e.pool.Query(ctx, q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	var out strings.Builder
	var x, y *string
	if _, err := pgx.ForEachRow(rows, []any{&x, &y}, func() error {
		fmt.Fprintf(&out, "  %s: %s\n  %s: %s\n", one, deref(x), other, deref(y))
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

// A refresh adds the new rows, wherever they fall: a load spread over
// every day stays incremental. It takes the full path by itself when that
// is cheaper (after a load several times the data there, and the rebuild's
// fixed cost; TestFullIsCheaper has the cases), or when days were queued before rows were numbered by batch
// (migration 00006 queues batch 0 for them), and consumes the queue either way.
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
	if spread.Full || spread.Version != first.Version+1 || !slices.Equal(spread.Runs, []string{"spread"}) {
		t.Fatalf("refresh after a load over every day: %+v; want an incremental refresh publishing run spread", spread)
	}
	e.assertNothingQueued()

	// Several times the data there, over the same days: adding it row by
	// row costs more than a rebuild.
	e.load("big", e.generate("big", datagen.Config{Shipments: 80_000, Cities: 40, Seed: 5, IDPrefix: "E",
		Vehicles: 20, From: day("2024-01-01"), To: day("2024-12-31")}))
	big, log := e.refreshLogged(false)
	if !big.Full || !slices.Equal(big.Runs, []string{"big"}) {
		t.Fatalf("refresh after a load several times the data: %+v; want the full path, publishing run big", big)
	}
	// Ingest queued each batch with its rows: the refresh decided before
	// staging them.
	if !slices.ContainsFunc(log, func(l string) bool {
		return strings.Contains(l, `"msg"="refresh takes the full path"`) && strings.Contains(l, `"countedFrom"="queue"`)
	}) {
		t.Errorf("refresh after a load several times the data did not decide from the queue; it logged:\n%s",
			strings.Join(log, "\n"))
	}
	e.assertNothingQueued()

	e.load("few", e.generate("few", datagen.Config{Shipments: 200, Cities: 40, Seed: 3, IDPrefix: "C",
		Vehicles: 20, From: day("2025-01-01"), To: day("2025-01-05")}))
	e.exec(`INSERT INTO precalc_dirty_batches (batch) VALUES (0)`)
	legacy := e.refresh(false)
	if !legacy.Full || !slices.Equal(legacy.Runs, []string{"few"}) {
		t.Fatalf("refresh with batch 0 queued: %+v; want the full path, publishing run few", legacy)
	}
	e.assertNothingQueued()
	if n := e.count(`SELECT sum(shipments) FROM agg_totals WHERE grain = 2`); n != e.count(`SELECT count(*) FROM shipments`) {
		t.Errorf("after the full path the rollups count %d shipments, want every loaded one", n)
	}

	e.load("more", e.generate("more", datagen.Config{Shipments: 200, Cities: 40, Seed: 4, IDPrefix: "D",
		Vehicles: 20, From: day("2025-02-01"), To: day("2025-02-05")}))
	if more := e.refresh(false); more.Full || more.Days != 5 {
		t.Fatalf("refresh after a load on 5 new days: full %v, %d days; want incremental", more.Full, more.Days)
	}
	e.assertNothingQueued()
}

// A log id and city names as long as docs/data.md allows (64 and 100
// code points), in 4-byte characters (256 and 400 bytes), go through an
// incremental refresh and a full rebuild alike.
func TestLongestNames(t *testing.T) {
	e := newEnv(t)
	e.load("first", e.generate("first", datagen.Config{Shipments: 500, Cities: 10}))
	e.refresh(false)
	e.exec(`INSERT INTO vehicle_logs (log_id, vehicle_id, trip_date, mileage, fuel_used)
		SELECT repeat('𝄞', 64), vehicle_id, trip_date, mileage, fuel_used FROM vehicle_logs LIMIT 1`)
	e.exec(`INSERT INTO shipments (shipment_id, origin, destination, weight, cost, delivery_time, log_id,
		trip_date, vehicle_id)
		SELECT 'LONG-' || n, repeat('𝄞', 100), repeat('😀', 99) || n, 10, 100, 3, l.log_id, l.trip_date, l.vehicle_id
		FROM vehicle_logs l, generate_series(1, 2) n WHERE l.log_id = repeat('𝄞', 64)`)
	e.exec(`INSERT INTO precalc_dirty_days (day) SELECT trip_date FROM vehicle_logs
		WHERE log_id = repeat('𝄞', 64) ON CONFLICT DO NOTHING`)
	if n := e.count(`SELECT max(octet_length(origin)) FROM shipments`); n != 400 {
		t.Fatalf("longest origin %d bytes, want 400", n)
	}
	res := e.refresh(false)
	if n := e.count(`SELECT count(*) FROM agg_route_totals, unnest(destinations) WHERE origin = repeat('𝄞', 100)`); n != 2 {
		t.Errorf("%d route totals from the longest origin, want 2", n)
	}
	e.assertEqualsFullRebuild(res)
}
