package precalc

import (
	"fmt"
	"slices"
	"strings"
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

	// The routes that old logs carried before: one scan of shipments, only
	// when there are such logs. The new rows are read from the raw tables
	// once and grouped in haul (newrows.go).
	carriedBeforeSQL = []string{
		`CREATE TEMP TABLE carried_before ON COMMIT DROP AS
		 SELECT DISTINCT s.log_id, s.origin, s.destination FROM shipments s
		 WHERE s.log_id IN (SELECT log_id FROM old_logs)
		   AND s.load_batch NOT IN (SELECT batch FROM refresh_batches)`,
		`ANALYZE carried_before`,
	}

	// A key's appended segments, merged into one once there are more than
	// maxSegments, so readers add up a few rows a key. The rebuild's rows
	// (segments 0 and below) stay: merging costs what the refreshes since
	// the rebuild added, not what is stored.
	mergeSegmentsSQL = []string{
		takeSegmentsSQL("delta_totals WHERE grain = 0", "agg_routes", "merged_routes", "period", "period"),
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
		takeSegmentsSQL("delta_vehicles WHERE grain = 2", "agg_vehicle_days", "merged_vehicle_days",
			"vehicle_id, period", "vehicle_id", "period"),
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
		takeSegmentsSQL("delta_vehicles WHERE grain = 2", "agg_vehicle_routes", "merged_vehicle_routes",
			"vehicle_id, period", "vehicle_id", "period"),
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
		// An origin's rows of agg_origin_vehicles are folded into its
		// routes' rows, with the segments appended to those before: a
		// route has one appended segment at most after.
		takeSegmentsSQL("delta_route_totals", "agg_origin_vehicles", "merged_origin_vehicles", "origin", "origin"),
		`CREATE TEMP TABLE merged_route_vehicles ON COMMIT DROP AS
		 WITH k AS MATERIALIZED (SELECT DISTINCT origin, de AS destination FROM merged_origin_vehicles, unnest(destinations) de),
		 d AS (DELETE FROM agg_route_vehicles a USING k
		       WHERE a.origin = k.origin AND a.destination = k.destination AND a.segment > 0 RETURNING a.*)
		 SELECT * FROM d`,
		`INSERT INTO agg_route_vehicles (origin, destination, segment, days, vehicle_ids)
		 SELECT origin, destination, min(segment), array_agg(d ORDER BY d, v), array_agg(v ORDER BY d, v)
		 FROM (SELECT origin, destination, min(segment) AS segment, d, v
		       FROM (SELECT origin, de AS destination, segment, d, v
		             FROM merged_origin_vehicles, unnest(destinations, days, vehicle_ids) AS u(de, d, v)
		             UNION ALL
		             SELECT origin, destination, segment, d, v
		             FROM merged_route_vehicles, unnest(days, vehicle_ids) AS u(d, v)) y
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
// the new rows touch (from: a delta table, and a condition on its rows)
// and that have more than maxSegments of them, into the temporary table
// into, to be merged. keys are the key's columns before segment, selected
// from from as keySQL lists them. The segments are counted through the
// primary key from the touched keys: the appended rows are not in the
// table's statistics, and a join planned on them took 17 s for 15k routes
// at 2M shipments.
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

// sumTable is a rollup table whose figures all combine as sums, minima or
// maxima: a refresh adds a row per key the new rows touch, from its delta
// (a temporary table of the same columns: deltasums.go), to the stored
// row, or inserts it.
type sumTable struct {
	table, delta string
	keys         []string
	values       []rolledColumn
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

var (
	totalsTable = sumTable{table: "agg_totals", delta: "delta_totals", keys: []string{"grain", "period"},
		values: append(sums("logs", "mileage", "fuel", "carrying_mileage", "shipments", "sum_cost", "sum_weight",
			"sum_dt", "sum_dt2", "ship_days", "vehicle_days"),
			rolledColumn{"min_dt", "min"}, rolledColumn{"max_dt", "max"},
			rolledColumn{"min_cpk", "min"}, rolledColumn{"max_cpk", "max"})}
)

// upsertSQL adds the delta's rows to the table. The delta is read in the
// order it was written, its key order, so the index is walked forward.
func (t sumTable) upsertSQL() string {
	cols := slices.Clone(t.keys)
	var set []string
	for _, v := range t.values {
		c := ident(v.name)
		cols = append(cols, c)
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
SELECT %s FROM %s
ON CONFLICT (%s) DO UPDATE SET %s`,
		ident(t.table), strings.Join(cols, ", "), strings.Join(cols, ", "), ident(t.delta),
		strings.Join(t.keys, ", "), strings.Join(set, ", "))
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
