package precalc

import (
	"fmt"
	"strings"

	"github.com/haul-dev/haul/internal/db"
)

// An incremental refresh adds to the rollups what the rows loaded since the
// last refresh contribute (docs/architecture.md, "Refresh by delta"): ingest
// numbers each batch's rows (load_batch) and queues the number in
// precalc_dirty_batches in the batch's transaction; the refresh reads the
// rows of the batches its snapshot sees queued, through a BRIN index, and
// consumes those batches when it commits. Rows are never updated or deleted
// (docs/data.md#45-duplicates-and-re-delivery), so every column is a sum, a
// minimum or a maximum of what it was and what the new rows bring (the
// array tables take the new rows as a segment of their own), except three,
// which the new rows decide with a look at what is stored:
//   - unique_vehicles of agg_route_totals counts the vehicles that carry the
//     route for the first time: the route's rows of agg_route_vehicles do
//     not list them (each route's vehicles are kept beside the rollups:
//     routevehicles.go);
//   - trips of agg_vehicle_routes and carrying_mileage count a log once,
//     however many of its shipments there are: a new shipment counts its log
//     only if no earlier shipment of that log did. A log loaded in this
//     refresh has none; for the rare shipment that rides an older log, the
//     log's earlier shipments are read with one scan of shipments;
//   - ship_days and vehicle_days count days, and a vehicle's days, with a
//     shipment: the stored day rows say whether that day already had one,
//     and the vehicle days kept beside the rollups (shipdays.go) whether
//     that vehicle on that day did.

// Every statement reads the temporary tables made before it; they are
// dropped when the refresh's transaction ends. The large ones are not
// analyzed: the planner sizes a table it has no statistics of from its
// pages, and the plans stayed the same without the 0.5-0.7 s that
// analyzing them took in a refresh of 100k shipments at 10M.
var (
	// The batches the refresh adds: those its snapshot sees queued.
	claimBatchesSQL = []string{
		adoptStraySQL,
		`CREATE TEMP TABLE refresh_batches ON COMMIT DROP AS SELECT batch, rows FROM precalc_dirty_batches`,
		`ANALYZE refresh_batches`,
	}

	// The new rows are read from the raw tables once, and what they add
	// grouped as each rollup is, in haul (newrows.go), into stage_rt (per day, route and delivery time:
	// everything that adds up over shipments), stage_vr (per day, vehicle
	// and route; trips counts the logs that carry the route for the first
	// time) and delta_vehicles (per day and vehicle: what agg_vehicle_days
	// and agg_vehicles add; carrying_mileage is the mileage of the logs
	// that carry a shipment for the first time). First, the routes that
	// old logs carried before.
	stageDeltaSQL = []string{
		// The routes that old logs carried before: one scan of shipments,
		// only when there are such logs (the one-time filter skips it).
		`CREATE TEMP TABLE carried_before ON COMMIT DROP AS
		 SELECT DISTINCT s.log_id, s.origin, s.destination FROM shipments s
		 WHERE (SELECT count(*) > 0 FROM old_logs)
		   AND s.log_id IN (SELECT log_id FROM old_logs)
		   AND s.load_batch NOT IN (SELECT batch FROM refresh_batches)`,
		`ANALYZE carried_before`,
	}

	// Per day, what agg_totals adds; vehicle_days counts the vehicles that
	// carry their first shipment of the day (first_carriers, shipdays.go).
	stageTotalsSQL = []string{
		`CREATE TEMP TABLE delta_totals ON COMMIT DROP AS
		 SELECT x.*, CASE WHEN x.shipments > 0 AND NOT EXISTS (
		                 SELECT 1 FROM agg_totals a WHERE a.grain = 0 AND a.period = x.day AND a.shipments > 0)
		             THEN 1 ELSE 0 END AS ship_days
		 FROM (SELECT coalesce(v.day, s.day) AS day,
		              coalesce(v.logs, 0) AS logs, coalesce(v.mileage, 0) AS mileage, coalesce(v.fuel, 0) AS fuel,
		              coalesce(v.carrying_mileage, 0) AS carrying_mileage, coalesce(v.vehicle_days, 0) AS vehicle_days,
		              coalesce(s.n, 0) AS shipments, coalesce(s.sum_cost, 0) AS sum_cost,
		              coalesce(s.sum_weight, 0) AS sum_weight, coalesce(s.sum_dt, 0) AS sum_dt,
		              coalesce(s.sum_dt2, 0) AS sum_dt2, s.min_dt, s.max_dt, s.min_cpk, s.max_cpk
		       FROM (SELECT d.*, f.vehicles AS vehicle_days
		             FROM (SELECT day, sum(trips) AS logs, sum(mileage) AS mileage, sum(fuel) AS fuel,
		                          sum(carrying_mileage) AS carrying_mileage
		                   FROM delta_vehicles GROUP BY 1) d
		             LEFT JOIN first_carriers f USING (day)) v
		       FULL JOIN (SELECT day, sum(n) AS n, sum(sum_cost) AS sum_cost, sum(sum_weight) AS sum_weight,
		                         sum(dt * n) AS sum_dt, sum(dt::numeric * dt * n) AS sum_dt2,
		                         min(dt) AS min_dt, max(dt) AS max_dt, min(min_cpk) AS min_cpk, max(max_cpk) AS max_cpk
		                  FROM stage_rt GROUP BY 1) s
		         ON s.day = v.day) x`,
	}

	// Routes' all-time figures: the new rows' sums added, the bounds
	// widened, the vehicles that carry a route for the first time counted.
	routeTotalsSQL = `INSERT INTO agg_route_totals AS t (origin, destination, shipments, sum_cost, sum_weight, sum_dt,
	     min_dt, max_dt, unique_vehicles)
	 SELECT r.origin, r.destination, r.n, r.sum_cost, r.sum_weight, r.sum_dt, r.min_dt, r.max_dt, coalesce(v.vehicles, 0)
	 FROM (SELECT origin, destination, sum(n) AS n, sum(sum_cost) AS sum_cost, sum(sum_weight) AS sum_weight,
	              sum(dt * n) AS sum_dt, min(dt) AS min_dt, max(dt) AS max_dt
	       FROM stage_rt GROUP BY 1, 2) r
	 LEFT JOIN new_route_vehicles v ON v.origin = r.origin AND v.destination = r.destination
	 ORDER BY 1, 2
	 ON CONFLICT (origin, destination) DO UPDATE SET
	     shipments = t.shipments + EXCLUDED.shipments, sum_cost = t.sum_cost + EXCLUDED.sum_cost,
	     sum_weight = t.sum_weight + EXCLUDED.sum_weight, sum_dt = t.sum_dt + EXCLUDED.sum_dt,
	     min_dt = least(t.min_dt, EXCLUDED.min_dt), max_dt = greatest(t.max_dt, EXCLUDED.max_dt),
	     unique_vehicles = t.unique_vehicles + EXCLUDED.unique_vehicles`

	// A key's appended segments, merged into one once there are more than
	// maxSegments, so readers add up a few rows a key. The rebuild's rows
	// (segments 0 and below) stay: merging costs what the refreshes since
	// the rebuild added, not what is stored.
	mergeSegmentsSQL = []string{
		takeSegmentsSQL("stage_rt", "agg_routes", "merged_routes", "day AS period", "period"),
		`INSERT INTO agg_routes (period, segment, origins, destinations, delivery_times, shipments, sum_cost,
		     sum_weight, sum_cpk, sum_cpt)
		 SELECT period, min(segment), array_agg(o ORDER BY o, de, dt), array_agg(de ORDER BY o, de, dt),
		        array_agg(dt ORDER BY o, de, dt), array_agg(n ORDER BY o, de, dt), array_agg(c ORDER BY o, de, dt),
		        array_agg(w ORDER BY o, de, dt), array_agg(cpk ORDER BY o, de, dt), array_agg(cpt ORDER BY o, de, dt)
		 FROM (SELECT period, min(segment) AS segment, o, de, dt, sum(n)::integer AS n, sum(c) AS c, sum(w) AS w,
		              sum(cpk) AS cpk, sum(cpt) AS cpt
		       FROM merged_routes,
		            unnest(origins, destinations, delivery_times, shipments, sum_cost, sum_weight, sum_cpk, sum_cpt)
		            AS u(o, de, dt, n, c, w, cpk, cpt)
		       GROUP BY period, o, de, dt) x
		 GROUP BY 1`,
		takeSegmentsSQL("delta_vehicles", "agg_vehicle_days", "merged_vehicle_days",
			"vehicle_id, date_trunc('month', day)::date AS period", "vehicle_id", "period"),
		`INSERT INTO agg_vehicle_days (vehicle_id, period, segment, days, trips, mileage, fuel, shipments, sum_cost, sum_dt)
		 SELECT vehicle_id, period, min(segment), array_agg(d ORDER BY d), array_agg(t ORDER BY d),
		        array_agg(m ORDER BY d), array_agg(f ORDER BY d), array_agg(n ORDER BY d), array_agg(c ORDER BY d),
		        array_agg(dt ORDER BY d)
		 FROM (SELECT vehicle_id, period, min(segment) AS segment, d, sum(t)::integer AS t, sum(m) AS m, sum(f) AS f,
		              sum(n)::integer AS n, sum(c) AS c, sum(dt)::bigint AS dt
		       FROM merged_vehicle_days,
		            unnest(days, trips, mileage, fuel, shipments, sum_cost, sum_dt) AS u(d, t, m, f, n, c, dt)
		       GROUP BY vehicle_id, period, d) x
		 GROUP BY 1, 2`,
		takeSegmentsSQL("stage_vr", "agg_vehicle_routes", "merged_vehicle_routes",
			"vehicle_id, date_trunc('year', day)::date AS period", "vehicle_id", "period"),
		`INSERT INTO agg_vehicle_routes (vehicle_id, period, segment, days, origins, destinations, trips,
		     shipments, sum_cost, sum_dt)
		 SELECT vehicle_id, period, min(segment), array_agg(d ORDER BY d, o, de), array_agg(o ORDER BY d, o, de),
		        array_agg(de ORDER BY d, o, de), array_agg(t ORDER BY d, o, de), array_agg(n ORDER BY d, o, de),
		        array_agg(c ORDER BY d, o, de), array_agg(dt ORDER BY d, o, de)
		 FROM (SELECT vehicle_id, period, min(segment) AS segment, d, o, de, sum(t)::integer AS t, sum(n)::integer AS n,
		              sum(c) AS c, sum(dt)::bigint AS dt
		       FROM merged_vehicle_routes,
		            unnest(days, origins, destinations, trips, shipments, sum_cost, sum_dt) AS u(d, o, de, t, n, c, dt)
		       GROUP BY vehicle_id, period, d, o, de) x
		 GROUP BY 1, 2`,
		takeSegmentsSQL("stage_vr", "agg_route_vehicles", "merged_route_vehicles", "origin, destination", "origin", "destination"),
		`INSERT INTO agg_route_vehicles (origin, destination, segment, days, vehicle_ids)
		 SELECT origin, destination, min(segment), array_agg(d ORDER BY d, v), array_agg(v ORDER BY d, v)
		 FROM (SELECT origin, destination, min(segment) AS segment, d, v
		       FROM merged_route_vehicles, unnest(days, vehicle_ids) AS u(d, v)
		       GROUP BY origin, destination, d, v) x
		 GROUP BY 1, 2`,
	}
)

// maxSegments is how many segments refreshes append to a key of the array
// tables before one merges them.
const maxSegments = 8

// deltasSinceRebuildSQL counts the refreshes since the last full rebuild:
// each appended at most one segment to a key, and the rebuild left none
// (nor do the migrations), so no key has more appended segments than
// that, and a refresh that cannot take one past maxSegments skips
// counting them (takeSegmentsSQL: 0.9 s of a refresh of 100k shipments at
// 10M).
const deltasSinceRebuildSQL = `
SELECT count(*) FROM precalc_refreshes
WHERE NOT full_build AND version > (SELECT coalesce(max(version), 0) FROM precalc_refreshes WHERE full_build)`

// takeSegmentsSQL deletes the appended segments of the keys of table that
// the new rows (the staged table from) touch and that have more than
// maxSegments of them, into the temporary table into, to be merged. keys
// are the key's columns before segment, selected from from as keySQL lists
// them. The segments are
// counted through the primary key from the touched keys: the appended rows
// are not in the table's statistics, and a join planned on them took 17 s
// for 15k routes at 2M shipments.
func takeSegmentsSQL(from, table, into, keySQL string, keys ...string) string {
	var match, same []string
	for _, k := range keys {
		match = append(match, fmt.Sprintf("a.%s = k.%s", k, k))
		same = append(same, fmt.Sprintf("a.%s = m.%s", k, k))
	}
	return fmt.Sprintf(`CREATE TEMP TABLE %[2]s ON COMMIT DROP AS
WITH m AS MATERIALIZED (
    SELECT %[3]s FROM (SELECT DISTINCT %[4]s FROM %[8]s) k
    WHERE (SELECT count(*) FROM %[1]s a WHERE %[5]s AND a.segment > 0) > %[7]d),
d AS (DELETE FROM %[1]s a USING m WHERE %[6]s AND a.segment > 0 RETURNING a.*)
SELECT * FROM d`, table, into, strings.Join(keys, ", "), keySQL,
		strings.Join(match, " AND "), strings.Join(same, " AND "), maxSegments, from)
}

// adoptStraySQL numbers the rows an older haul loaded without a number
// (load_batch -1, migration 00006) as a batch of their own and queues it,
// so that the refresh whose snapshot it runs in, or the next one, adds them.
// The BRIN index finds them in the block ranges that hold any.
const adoptStraySQL = `
WITH b AS (SELECT nextval('load_batches') AS batch),
l AS (UPDATE vehicle_logs SET load_batch = (SELECT batch FROM b) WHERE load_batch = -1 RETURNING 1),
s AS (UPDATE shipments SET load_batch = (SELECT batch FROM b) WHERE load_batch = -1 RETURNING 1)
INSERT INTO precalc_dirty_batches (batch, rows)
SELECT batch, (SELECT count(*) FROM l) + (SELECT count(*) FROM s) FROM b WHERE EXISTS (SELECT 1 FROM l) OR EXISTS (SELECT 1 FROM s)`

// inRefreshBatches selects the rows of the refreshed batches. The bounds let
// the BRIN index skip every block range outside them.
const inRefreshBatches = `load_batch BETWEEN (SELECT min(batch) FROM refresh_batches) AND (SELECT max(batch) FROM refresh_batches)
		   AND load_batch IN (SELECT batch FROM refresh_batches)`

// rolledTable is a rollup table kept per grain (day, month, year) whose
// columns all combine as sums, minima or maxima: a refresh adds the new
// rows' figures to the rows of each of its grains.
type rolledTable struct {
	table  string
	grains []int16
	// key columns after (grain, period); delta is the temporary table of
	// the day figures, with the key and value columns and day.
	keys   []string
	delta  string
	values []rolledColumn
}

type rolledColumn struct {
	name string
	fn   string // sum, min or max
}

func sums(names ...string) []rolledColumn {
	cols := make([]rolledColumn, len(names))
	for i, n := range names {
		cols[i] = rolledColumn{name: n, fn: "sum"}
	}
	return cols
}

var rolledTables = []rolledTable{
	{table: "agg_totals", grains: []int16{db.GrainDay, db.GrainMonth, db.GrainYear}, delta: "delta_totals",
		values: append(sums("logs", "mileage", "fuel", "carrying_mileage", "shipments", "sum_cost", "sum_weight",
			"sum_dt", "sum_dt2", "ship_days", "vehicle_days"),
			rolledColumn{"min_dt", "min"}, rolledColumn{"max_dt", "max"},
			rolledColumn{"min_cpk", "min"}, rolledColumn{"max_cpk", "max"})},
	// Its days are agg_vehicle_days.
	{table: "agg_vehicles", grains: []int16{db.GrainMonth, db.GrainYear}, delta: "delta_vehicles",
		keys:   []string{"vehicle_id"},
		values: sums("trips", "mileage", "fuel", "shipments", "sum_cost", "sum_dt")},
}

// upsertSQL adds the delta's figures to the table's rows of grain g,
// creating the rows that are not there yet.
func (r rolledTable) upsertSQL(g int16) string {
	unit := map[int16]string{db.GrainDay: "day", db.GrainMonth: "month", db.GrainYear: "year"}[g]
	cols := []string{"grain", "period"}
	sel := []string{fmt.Sprint(g), fmt.Sprintf("date_trunc('%s', day)::date", unit)}
	group := []string{"2"}
	conflict := []string{"grain", "period"}
	for i, k := range r.keys {
		cols = append(cols, ident(k))
		sel = append(sel, ident(k))
		group = append(group, fmt.Sprint(i+3))
		conflict = append(conflict, ident(k))
	}
	var set []string
	for _, v := range r.values {
		c := ident(v.name)
		cols = append(cols, c)
		sel = append(sel, fmt.Sprintf("%s(%s)", v.fn, c))
		switch v.fn {
		case "sum":
			set = append(set, fmt.Sprintf("%s = a.%s + EXCLUDED.%s", c, c, c))
		case "min":
			set = append(set, fmt.Sprintf("%s = least(a.%s, EXCLUDED.%s)", c, c, c))
		case "max":
			set = append(set, fmt.Sprintf("%s = greatest(a.%s, EXCLUDED.%s)", c, c, c))
		}
	}
	return fmt.Sprintf(`INSERT INTO %s AS a (%s)
SELECT %s
FROM %s
GROUP BY %s
ORDER BY %s
ON CONFLICT (%s) DO UPDATE SET %s`,
		ident(r.table), strings.Join(cols, ", "), strings.Join(sel, ", "), ident(r.delta),
		strings.Join(group, ", "), strings.Join(group, ", "), strings.Join(conflict, ", "), strings.Join(set, ", "))
}

// rollUpSQL adds the deltas to every grain of the rolled tables.
func rollUpSQL() []string {
	var stmts []string
	for _, r := range rolledTables {
		for _, g := range r.grains {
			stmts = append(stmts, r.upsertSQL(g))
		}
	}
	return stmts
}

// aggregatedRowsSQL is every row, and every shipment, aggregated so far.
const aggregatedRowsSQL = `coalesce((SELECT sum(logs + shipments) FROM agg_totals WHERE grain = 2), 0)::bigint,
       coalesce((SELECT sum(shipments) FROM agg_totals WHERE grain = 2), 0)::bigint`

// queuedCostSQL reads what a costEstimate needs from the queue alone: the
// new rows, if every batch says how many it loaded; old logs are not known
// yet.
const queuedCostSQL = `
SELECT coalesce(sum(rows), 0)::bigint, count(*) FILTER (WHERE rows IS NULL) = 0, ` + aggregatedRowsSQL + `
FROM refresh_batches`

// publishDeltaSQL consumes the refreshed batches.
const publishDeltaSQL = `DELETE FROM precalc_dirty_batches WHERE batch IN (SELECT batch FROM refresh_batches)`
