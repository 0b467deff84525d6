package precalc

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The refresh's SQL. Day rows are computed from the raw tables for the days
// in the temporary table refresh_days; month and year rows are then re-added
// from the rows one grain finer, for the periods in refresh_periods.

// claimSQL moves the work queued by ingest to the refresh's claim, in one
// short transaction. The SHARE ROW EXCLUSIVE lock waits for the ingest
// batches that are marking days right now to commit: their rows are then
// visible to the refresh, and a batch that comes later marks its days again.
var claimSQL = []string{
	`LOCK TABLE precalc_dirty_days IN SHARE ROW EXCLUSIVE MODE`,
	`INSERT INTO precalc_claimed_days (day) SELECT day FROM precalc_dirty_days ON CONFLICT DO NOTHING`,
	`DELETE FROM precalc_dirty_days`,
	`UPDATE precalc_pending_runs SET claimed = true WHERE NOT claimed`,
}

// claimedSQL says what the claim holds.
const claimedSQL = `
SELECT (SELECT count(*) FROM precalc_claimed_days),
       coalesce((SELECT array_agg(run_id ORDER BY run_id) FROM precalc_pending_runs WHERE claimed), '{}'),
       (SELECT version FROM precalc_state)`

// staleSQL says whether the aggregates lag the committed data.
const staleSQL = `
SELECT EXISTS (SELECT 1 FROM precalc_dirty_days)
    OR EXISTS (SELECT 1 FROM precalc_claimed_days)
    OR EXISTS (SELECT 1 FROM precalc_pending_runs)`

// Scope of a refresh.
var (
	incrementalDaysSQL = []string{
		`CREATE TEMP TABLE refresh_days (day date PRIMARY KEY) ON COMMIT DROP`,
		`INSERT INTO refresh_days SELECT day FROM precalc_claimed_days`,
	}
	fullDaysSQL = []string{
		`CREATE TEMP TABLE refresh_days (day date PRIMARY KEY) ON COMMIT DROP`,
		`INSERT INTO refresh_days SELECT DISTINCT trip_date FROM vehicle_logs`,
	}
	periodsSQL = []string{
		`ANALYZE refresh_days`,
		`CREATE TEMP TABLE refresh_periods ON COMMIT DROP AS
		 SELECT DISTINCT 1::smallint AS grain, date_trunc('month', day)::date AS period FROM refresh_days
		 UNION
		 SELECT DISTINCT 2::smallint, date_trunc('year', day)::date FROM refresh_days`,
		`ANALYZE refresh_periods`,
	}
)

// stageSQL groups the raw rows of the refreshed days once; every day row is
// derived from these three staging tables.
var stageSQL = []string{
	// Per day, route and delivery time: everything that adds up over shipments.
	`CREATE TEMP TABLE stage_rt ON COMMIT DROP AS
	 SELECT trip_date AS day, origin, destination, delivery_time AS dt, count(*) AS n,
	        sum(cost) AS sum_cost, sum(weight) AS sum_weight,
	        sum(cost / weight) AS sum_cpk, sum(cost / delivery_time) AS sum_cpt,
	        min(cost / weight) AS min_cpk, max(cost / weight) AS max_cpk
	 FROM shipments
	 WHERE trip_date IN (SELECT day FROM refresh_days)
	 GROUP BY 1, 2, 3, 4`,
	// Per day, vehicle and route: what a vehicle carried, in trips and shipments.
	`CREATE TEMP TABLE stage_vr ON COMMIT DROP AS
	 SELECT trip_date AS day, vehicle_id, origin, destination,
	        count(*) AS n, count(DISTINCT log_id) AS trips, sum(cost) AS sum_cost, sum(delivery_time) AS sum_dt
	 FROM shipments
	 WHERE trip_date IN (SELECT day FROM refresh_days)
	 GROUP BY 1, 2, 3, 4`,
	// Per day and vehicle: its logs, and the mileage of those that carried a shipment.
	`CREATE TEMP TABLE stage_logs ON COMMIT DROP AS
	 SELECT l.trip_date AS day, l.vehicle_id, count(*) AS trips,
	        sum(l.mileage) AS mileage, sum(l.fuel_used) AS fuel,
	        coalesce(sum(l.mileage) FILTER (WHERE c.log_id IS NOT NULL), 0) AS carrying_mileage
	 FROM vehicle_logs l
	 LEFT JOIN (SELECT DISTINCT log_id FROM shipments WHERE trip_date IN (SELECT day FROM refresh_days)) c
	        ON c.log_id = l.log_id
	 WHERE l.trip_date IN (SELECT day FROM refresh_days)
	 GROUP BY 1, 2`,
}

// deleteDaysSQL removes the day rows of the refreshed days. Day rows of
// agg_vehicle_routes are found through the vehicles that had logs on those
// days (logs are never deleted), which its primary key serves.
var deleteDaysSQL = []string{
	`DELETE FROM agg_totals WHERE grain = 0 AND period IN (SELECT day FROM refresh_days)`,
	`DELETE FROM agg_routes WHERE grain = 0 AND period IN (SELECT day FROM refresh_days)`,
	`DELETE FROM agg_vehicles WHERE grain = 0 AND period IN (SELECT day FROM refresh_days)`,
	`DELETE FROM agg_vehicle_routes a USING stage_logs k WHERE a.vehicle_id = k.vehicle_id AND a.period = k.day`,
}

// deleteAllSQL empties every rollup for a full rebuild. DELETE rather than
// TRUNCATE: TRUNCATE would lock readers out until the rebuild commits.
var deleteAllSQL = []string{
	`DELETE FROM agg_totals`,
	`DELETE FROM agg_routes`,
	`DELETE FROM agg_vehicles`,
	`DELETE FROM agg_vehicle_routes`,
	`DELETE FROM agg_route_totals`,
}

var insertDaysSQL = []string{
	`INSERT INTO agg_vehicle_routes (vehicle_id, period, origin, destination, trips, shipments, sum_cost, sum_dt)
	 SELECT vehicle_id, day, origin, destination, trips, n, sum_cost, sum_dt FROM stage_vr`,

	// on_time_day: dt <= Σdt/n of the same (day, route), compared exactly
	// as dt·n <= Σdt; all shipments of a row share dt, so are all on time or none.
	`INSERT INTO agg_routes (grain, period, origin, destination, delivery_time, shipments, sum_cost, sum_weight,
	     sum_cpk, sum_cpt, on_time_day)
	 SELECT 0, day, origin, destination, dt, n, sum_cost, sum_weight, sum_cpk, sum_cpt,
	        CASE WHEN dt * route_n <= route_dt THEN n ELSE 0 END
	 FROM (SELECT *, sum(n) OVER w AS route_n, sum(dt::bigint * n) OVER w AS route_dt
	       FROM stage_rt WINDOW w AS (PARTITION BY day, origin, destination)) x
	 ORDER BY day`,

	`INSERT INTO agg_vehicles (grain, period, vehicle_id, trips, mileage, fuel, shipments, sum_cost, sum_dt)
	 SELECT 0, coalesce(l.day, s.day), coalesce(l.vehicle_id, s.vehicle_id),
	        coalesce(l.trips, 0), coalesce(l.mileage, 0), coalesce(l.fuel, 0),
	        coalesce(s.n, 0), coalesce(s.sum_cost, 0), coalesce(s.sum_dt, 0)
	 FROM stage_logs l
	 FULL JOIN (SELECT day, vehicle_id, sum(n) AS n, sum(sum_cost) AS sum_cost, sum(sum_dt) AS sum_dt
	            FROM stage_vr GROUP BY 1, 2) s
	   ON s.day = l.day AND s.vehicle_id = l.vehicle_id`,

	`INSERT INTO agg_totals (grain, period, logs, mileage, fuel, carrying_mileage, shipments, sum_cost,
	     sum_weight, sum_dt, sum_dt2, min_dt, max_dt, min_cpk, max_cpk, ship_days, vehicle_days)
	 SELECT 0, coalesce(l.day, s.day),
	        coalesce(l.logs, 0), coalesce(l.mileage, 0), coalesce(l.fuel, 0), coalesce(l.carrying_mileage, 0),
	        coalesce(s.n, 0), coalesce(s.sum_cost, 0), coalesce(s.sum_weight, 0),
	        coalesce(s.sum_dt, 0), coalesce(s.sum_dt2, 0), s.min_dt, s.max_dt, s.min_cpk, s.max_cpk,
	        CASE WHEN s.n > 0 THEN 1 ELSE 0 END, coalesce(v.vehicles, 0)
	 FROM (SELECT day, sum(trips) AS logs, sum(mileage) AS mileage, sum(fuel) AS fuel,
	              sum(carrying_mileage) AS carrying_mileage
	       FROM stage_logs GROUP BY 1) l
	 FULL JOIN (SELECT day, sum(n) AS n, sum(sum_cost) AS sum_cost, sum(sum_weight) AS sum_weight,
	                   sum(dt * n) AS sum_dt, sum(dt::numeric * dt * n) AS sum_dt2,
	                   min(dt) AS min_dt, max(dt) AS max_dt, min(min_cpk) AS min_cpk, max(max_cpk) AS max_cpk
	            FROM stage_rt GROUP BY 1) s
	   ON s.day = l.day
	 LEFT JOIN (SELECT day, count(DISTINCT vehicle_id) AS vehicles FROM stage_vr GROUP BY 1) v
	   ON v.day = s.day`,
}

// rollup describes a table with month and year rows: its key columns after
// (grain, period) and how each value column combines.
type rollup struct {
	table  string
	keys   []string
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

var rollups = []rollup{
	{table: "agg_totals", values: append(sums("logs", "mileage", "fuel", "carrying_mileage", "shipments",
		"sum_cost", "sum_weight", "sum_dt", "sum_dt2", "ship_days", "vehicle_days"),
		rolledColumn{"min_dt", "min"}, rolledColumn{"max_dt", "max"},
		rolledColumn{"min_cpk", "min"}, rolledColumn{"max_cpk", "max"})},
	{table: "agg_routes", keys: []string{"origin", "destination", "delivery_time"},
		values: sums("shipments", "sum_cost", "sum_weight", "sum_cpk", "sum_cpt", "on_time_day")},
	{table: "agg_vehicles", keys: []string{"vehicle_id"},
		values: sums("trips", "mileage", "fuel", "shipments", "sum_cost", "sum_dt")},
}

// grainStep is the length of a period of each coarse grain, and the finer
// grain its rows are added from.
var grainStep = map[int16]struct {
	interval string
	from     int16
}{
	1: {"1 month", 0},
	2: {"1 year", 1},
}

// deletePeriodsSQL removes a table's rows of grain g for the refreshed periods.
func (r rollup) deletePeriodsSQL(g int16) string {
	return fmt.Sprintf(`DELETE FROM %s WHERE grain = %d AND period IN (SELECT period FROM refresh_periods WHERE grain = %d)`,
		ident(r.table), g, g)
}

// insertPeriodsSQL re-adds a table's rows of grain g from the finer grain,
// for the refreshed periods.
func (r rollup) insertPeriodsSQL(g int16) string {
	step := grainStep[g]
	cols := []string{"grain", "period"}
	sel := []string{fmt.Sprint(g), "p.period"}
	group := []string{"p.period"}
	for _, k := range r.keys {
		cols = append(cols, ident(k))
		sel = append(sel, "a."+ident(k))
		group = append(group, "a."+ident(k))
	}
	for _, v := range r.values {
		cols = append(cols, ident(v.name))
		sel = append(sel, fmt.Sprintf("%s(a.%s)", v.fn, ident(v.name)))
	}
	return fmt.Sprintf(`INSERT INTO %s (%s)
SELECT %s
FROM refresh_periods p
JOIN %s a ON a.grain = %d AND a.period >= p.period AND a.period < (p.period + interval '%s')::date
WHERE p.grain = %d
GROUP BY %s`,
		ident(r.table), strings.Join(cols, ", "), strings.Join(sel, ", "),
		ident(r.table), step.from, step.interval, g, strings.Join(group, ", "))
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// coarseSQL lists the statements that rebuild the month rows, then the year
// rows, of every rollup for the refreshed periods.
func coarseSQL() []string {
	var stmts []string
	for _, g := range []int16{1, 2} {
		for _, r := range rollups {
			stmts = append(stmts, r.deletePeriodsSQL(g), r.insertPeriodsSQL(g))
		}
	}
	return stmts
}

// Route totals of the routes the refreshed days touched (every route, in a
// full rebuild, where the table was emptied), from the year rows and the
// vehicle routes.
var routeTotalsSQL = []string{
	`CREATE TEMP TABLE refresh_routes ON COMMIT DROP AS SELECT DISTINCT origin, destination FROM stage_rt`,
	`ANALYZE refresh_routes`,
	`DELETE FROM agg_route_totals t USING refresh_routes r WHERE t.origin = r.origin AND t.destination = r.destination`,
	`INSERT INTO agg_route_totals (origin, destination, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles)
	 SELECT a.origin, a.destination, sum(a.shipments), sum(a.sum_cost), sum(a.sum_weight),
	        sum(a.delivery_time * a.shipments), min(a.delivery_time), max(a.delivery_time), max(v.vehicles)
	 FROM refresh_routes r
	 JOIN agg_routes a ON a.grain = 2 AND a.origin = r.origin AND a.destination = r.destination
	 JOIN (SELECT vr.origin, vr.destination, count(DISTINCT vr.vehicle_id) AS vehicles
	       FROM refresh_routes r2
	       JOIN agg_vehicle_routes vr ON vr.origin = r2.origin AND vr.destination = r2.destination
	       GROUP BY 1, 2) v ON v.origin = r.origin AND v.destination = r.destination
	 GROUP BY 1, 2`,
}

// vehicleInfoSQL snapshots the vehicles' names and lifetime mileage.
// Vehicles are never deleted, only replaced (DATA.md 4.5).
const vehicleInfoSQL = `
INSERT INTO agg_vehicle_info (vehicle_id, name, total_mileage)
SELECT vehicle_id, name, total_mileage FROM vehicles
ON CONFLICT (vehicle_id) DO UPDATE SET name = EXCLUDED.name, total_mileage = EXCLUDED.total_mileage
WHERE (agg_vehicle_info.name, agg_vehicle_info.total_mileage) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.total_mileage)`

// publishSQL ends a refresh: the claim is consumed and the version bumped,
// in the refresh's transaction. $1: start time, $2: full, $3: days refreshed.
var publishSQL = []string{
	`DELETE FROM precalc_claimed_days`,
	`UPDATE precalc_state SET version = version + 1, refreshed_at = clock_timestamp(),
	     last_error = NULL, last_error_at = NULL`,
	`UPDATE ingest_runs SET precalc_version = (SELECT version FROM precalc_state)
	 WHERE run_id IN (SELECT run_id FROM precalc_pending_runs WHERE claimed)`,
}

const recordRefreshSQL = `
WITH runs AS (DELETE FROM precalc_pending_runs WHERE claimed RETURNING run_id)
INSERT INTO precalc_refreshes (version, full_build, started_at, finished_at, days, runs)
SELECT version, $2, $1, refreshed_at, $3, coalesce((SELECT array_agg(run_id ORDER BY run_id) FROM runs), '{}')
FROM precalc_state
RETURNING version, finished_at`

// failedSQL records a refresh that failed; $1 is a one-line message.
const failedSQL = `UPDATE precalc_state SET last_error = $1, last_error_at = clock_timestamp()`
