package precalc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
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

// costSQL reads a costEstimate: the rows on the claimed days and in all as
// the served version counts them, and the rows the claimed runs loaded.
const costSQL = `
SELECT coalesce((SELECT sum(logs + shipments) FROM agg_totals
                 WHERE grain = 0 AND period IN (SELECT day FROM precalc_claimed_days)), 0)::bigint,
       coalesce((SELECT sum(logs + shipments) FROM agg_totals WHERE grain = 2), 0)::bigint,
       coalesce((SELECT sum(d.loaded) FROM ingest_run_datasets d JOIN precalc_pending_runs p USING (run_id)
                 WHERE p.claimed AND d.dataset <> 'vehicles'), 0)::bigint`

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
	periodsSQL = []string{
		`ANALYZE refresh_days`,
		`CREATE TEMP TABLE refresh_periods ON COMMIT DROP AS
		 SELECT DISTINCT 1::smallint AS grain, date_trunc('month', day)::date AS period FROM refresh_days
		 UNION
		 SELECT DISTINCT 2::smallint, date_trunc('year', day)::date FROM refresh_days`,
		`ANALYZE refresh_periods`,
	}
)

// The staging tables group the raw rows of the refreshed days once; every
// day row is derived from them.
const (
	// Per day, route and delivery time: everything that adds up over shipments.
	stageRoutesSQL = `CREATE TEMP TABLE stage_rt ON COMMIT DROP AS
	 SELECT trip_date AS day, origin, destination, delivery_time AS dt, count(*) AS n,
	        sum(cost) AS sum_cost, sum(weight) AS sum_weight,
	        sum(cost / weight) AS sum_cpk, sum(cost / delivery_time) AS sum_cpt,
	        min(cost / weight) AS min_cpk, max(cost / weight) AS max_cpk
	 FROM shipments
	 WHERE trip_date IN (SELECT day FROM refresh_days)
	 GROUP BY 1, 2, 3, 4`
	// Per day, vehicle and route: what a vehicle carried, in trips and shipments.
	stageVehicleRoutesSQL = `CREATE TEMP TABLE stage_vr ON COMMIT DROP AS
	 SELECT trip_date AS day, vehicle_id, origin, destination,
	        count(*) AS n, count(DISTINCT log_id) AS trips, sum(cost) AS sum_cost, sum(delivery_time) AS sum_dt
	 FROM shipments
	 WHERE trip_date IN (SELECT day FROM refresh_days)
	 GROUP BY 1, 2, 3, 4`
	// Per day and vehicle: its logs, and the mileage of those that carried a shipment.
	stageLogsSQL = `CREATE TEMP TABLE stage_logs ON COMMIT DROP AS
	 SELECT l.trip_date AS day, l.vehicle_id, count(*) AS trips,
	        sum(l.mileage) AS mileage, sum(l.fuel_used) AS fuel,
	        coalesce(sum(l.mileage) FILTER (WHERE c.log_id IS NOT NULL), 0) AS carrying_mileage
	 FROM vehicle_logs l
	 LEFT JOIN (SELECT DISTINCT log_id FROM shipments WHERE trip_date IN (SELECT day FROM refresh_days)) c
	        ON c.log_id = l.log_id
	 WHERE l.trip_date IN (SELECT day FROM refresh_days)
	 GROUP BY 1, 2`
)

var stageSQL = []string{stageRoutesSQL, stageVehicleRoutesSQL, stageLogsSQL}

// deleteDaysSQL removes the day rows of the refreshed days. Day rows of
// agg_vehicle_routes are found through the vehicles that had logs on those
// days (logs are never deleted), which its primary key serves.
var deleteDaysSQL = []string{
	`DELETE FROM agg_totals WHERE grain = 0 AND period IN (SELECT day FROM refresh_days)`,
	// What the replaced day rows contributed to the year rows and route
	// totals, which are corrected by difference.
	`CREATE TEMP TABLE replaced_routes ON COMMIT DROP AS
	 WITH d AS (DELETE FROM agg_routes WHERE grain = 0 AND period IN (SELECT day FROM refresh_days)
	            RETURNING *)
	 SELECT date_trunc('year', period)::date AS year, origin, destination, delivery_time,
	        sum(shipments) AS shipments, sum(sum_cost) AS sum_cost, sum(sum_weight) AS sum_weight,
	        sum(sum_cpk) AS sum_cpk, sum(sum_cpt) AS sum_cpt, sum(on_time_day) AS on_time_day
	 FROM d GROUP BY 1, 2, 3, 4`,
	`DELETE FROM agg_vehicles WHERE grain = 0 AND period IN (SELECT day FROM refresh_days)`,
	`DELETE FROM agg_vehicle_routes a USING stage_logs k WHERE a.vehicle_id = k.vehicle_id AND a.period = k.day`,
}

// The day rows, from the staging tables.
const (
	insertVehicleRouteDaysSQL = `INSERT INTO agg_vehicle_routes (vehicle_id, period, origin, destination, trips, shipments, sum_cost, sum_dt)
	 SELECT vehicle_id, day, origin, destination, trips, n, sum_cost, sum_dt FROM stage_vr`

	// on_time_day: dt <= Σdt/n of the same (day, route), compared exactly
	// as dt·n <= Σdt; all shipments of a row share dt, so are all on time or none.
	insertRouteDaysSQL = `INSERT INTO agg_routes (grain, period, origin, destination, delivery_time, shipments, sum_cost, sum_weight,
	     sum_cpk, sum_cpt, on_time_day)
	 SELECT 0, day, origin, destination, dt, n, sum_cost, sum_weight, sum_cpk, sum_cpt,
	        CASE WHEN dt * route_n <= route_dt THEN n ELSE 0 END
	 FROM (SELECT *, sum(n) OVER w AS route_n, sum(dt::bigint * n) OVER w AS route_dt
	       FROM stage_rt WINDOW w AS (PARTITION BY day, origin, destination)) x`

	insertVehicleDaysSQL = `INSERT INTO agg_vehicles (grain, period, vehicle_id, trips, mileage, fuel, shipments, sum_cost, sum_dt)
	 SELECT 0, coalesce(l.day, s.day), coalesce(l.vehicle_id, s.vehicle_id),
	        coalesce(l.trips, 0), coalesce(l.mileage, 0), coalesce(l.fuel, 0),
	        coalesce(s.n, 0), coalesce(s.sum_cost, 0), coalesce(s.sum_dt, 0)
	 FROM stage_logs l
	 FULL JOIN (SELECT day, vehicle_id, sum(n) AS n, sum(sum_cost) AS sum_cost, sum(sum_dt) AS sum_dt
	            FROM stage_vr GROUP BY 1, 2) s
	   ON s.day = l.day AND s.vehicle_id = l.vehicle_id`

	// The shipments of each refreshed day, added up from stage_rt.
	shipmentDaysFromStageSQL = `SELECT day, sum(n) AS n, sum(sum_cost) AS sum_cost, sum(sum_weight) AS sum_weight,
	        sum(dt * n) AS sum_dt, sum(dt::numeric * dt * n) AS sum_dt2,
	        min(dt) AS min_dt, max(dt) AS max_dt, min(min_cpk) AS min_cpk, max(max_cpk) AS max_cpk
	 FROM stage_rt GROUP BY 1`
)

// totalDaysSQL adds up each day's logs and shipments: logDays and
// shipmentDays are queries of the days' figures, vehicles the column of
// distinct vehicles, from joins.
func totalDaysSQL(logDays, shipmentDays, vehicles, joins string) string {
	return `INSERT INTO agg_totals (grain, period, logs, mileage, fuel, carrying_mileage, shipments, sum_cost,
	     sum_weight, sum_dt, sum_dt2, min_dt, max_dt, min_cpk, max_cpk, ship_days, vehicle_days)
	 SELECT 0, coalesce(l.day, s.day),
	        coalesce(l.logs, 0), coalesce(l.mileage, 0), coalesce(l.fuel, 0), coalesce(l.carrying_mileage, 0),
	        coalesce(s.n, 0), coalesce(s.sum_cost, 0), coalesce(s.sum_weight, 0),
	        coalesce(s.sum_dt, 0), coalesce(s.sum_dt2, 0), s.min_dt, s.max_dt, s.min_cpk, s.max_cpk,
	        CASE WHEN s.n > 0 THEN 1 ELSE 0 END, ` + vehicles + `
	 FROM (` + logDays + `) l
	 FULL JOIN (` + shipmentDays + `) s
	   ON s.day = l.day ` + joins
}

var insertTotalDaysSQL = totalDaysSQL(`SELECT day, sum(trips) AS logs, sum(mileage) AS mileage, sum(fuel) AS fuel,
	        sum(carrying_mileage) AS carrying_mileage
	 FROM stage_logs GROUP BY 1`,
	shipmentDaysFromStageSQL, "coalesce(v.vehicles, 0)",
	`LEFT JOIN (SELECT day, count(DISTINCT vehicle_id) AS vehicles FROM stage_vr GROUP BY 1) v
	   ON v.day = s.day`)

var insertDaysSQL = []string{
	insertVehicleRouteDaysSQL, insertRouteDaysSQL, insertVehicleDaysSQL, insertTotalDaysSQL,
}

// rollup describes a table with coarse rows: its key columns after (grain,
// period), how each value column combines, and whether it has month rows.
// Route rows have none: with hundreds of cities a route rarely repeats
// within a month, so month rows would be nearly as many as day rows.
type rollup struct {
	table  string
	keys   []string
	values []rolledColumn
	months bool
	// byDifference: a refresh corrects its coarse rows by the difference
	// of the refreshed day rows instead of re-adding them.
	byDifference bool
}

// grains lists the rollup's coarse grains, finest first.
func (r rollup) grains() []int16 {
	if r.months {
		return []int16{db.GrainMonth, db.GrainYear}
	}
	return []int16{db.GrainYear}
}

// source is the grain rows of grain g are added from.
func (r rollup) source(g int16) int16 {
	if g == db.GrainYear && r.months {
		return db.GrainMonth
	}
	return db.GrainDay
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
	{table: "agg_totals", months: true, values: append(sums("logs", "mileage", "fuel", "carrying_mileage",
		"shipments", "sum_cost", "sum_weight", "sum_dt", "sum_dt2", "ship_days", "vehicle_days"),
		rolledColumn{"min_dt", "min"}, rolledColumn{"max_dt", "max"},
		rolledColumn{"min_cpk", "min"}, rolledColumn{"max_cpk", "max"})},
	{table: "agg_routes", byDifference: true, keys: []string{"origin", "destination", "delivery_time"},
		values: sums("shipments", "sum_cost", "sum_weight", "sum_cpk", "sum_cpt", "on_time_day")},
	{table: "agg_vehicles", months: true, keys: []string{"vehicle_id"},
		values: sums("trips", "mileage", "fuel", "shipments", "sum_cost", "sum_dt")},
}

// deletePeriodsSQL removes a table's rows of grain g for the refreshed periods.
func (r rollup) deletePeriodsSQL(g int16) string {
	return fmt.Sprintf(`DELETE FROM %s WHERE grain = %d AND period IN (SELECT period FROM refresh_periods WHERE grain = %d)`,
		ident(r.table), g, g)
}

// insertPeriodsSQL re-adds a table's rows of grain g for the refreshed
// periods from the finer grain.
func (r rollup) insertPeriodsSQL(g int16) string {
	unit := map[int16]string{db.GrainMonth: "month", db.GrainYear: "year"}[g]
	cols := []string{"grain", "period"}
	sel := []string{fmt.Sprint(g), fmt.Sprintf("date_trunc('%s', a.period)::date", unit)}
	group := []string{"2"}
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
JOIN %s a ON a.grain = %d AND a.period >= p.period AND a.period < (p.period + interval '1 %s')::date
WHERE p.grain = %d
GROUP BY %s`,
		ident(r.table), strings.Join(cols, ", "), strings.Join(sel, ", "), ident(r.table), r.source(g), unit, g,
		strings.Join(group, ", "))
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// coarseSQL lists the statements that rebuild the month rows, then the year
// rows, of the rollups for the refreshed periods; route years are left to
// routeYearsSQL.
func coarseSQL() []string {
	var stmts []string
	for _, g := range []int16{db.GrainMonth, db.GrainYear} {
		for _, r := range rollups {
			if !slices.Contains(r.grains(), g) || r.byDifference {
				continue
			}
			stmts = append(stmts, r.deletePeriodsSQL(g), r.insertPeriodsSQL(g))
		}
	}
	return append(stmts, routeYearsSQL...)
}

// routeYearsSQL corrects the year rows of routes by the difference between
// the refreshed days' new rows and the rows they replaced: recomputing a
// year from its days would read a year of rows for one new day.
var routeYearsSQL = []string{
	`INSERT INTO agg_routes AS a (grain, period, origin, destination, delivery_time, shipments, sum_cost,
	     sum_weight, sum_cpk, sum_cpt, on_time_day)
	 SELECT 2, n.year, n.origin, n.destination, n.delivery_time,
	        n.shipments - coalesce(o.shipments, 0), n.sum_cost - coalesce(o.sum_cost, 0),
	        n.sum_weight - coalesce(o.sum_weight, 0), n.sum_cpk - coalesce(o.sum_cpk, 0),
	        n.sum_cpt - coalesce(o.sum_cpt, 0), n.on_time_day - coalesce(o.on_time_day, 0)
	 FROM (SELECT date_trunc('year', period)::date AS year, origin, destination, delivery_time,
	              sum(shipments) AS shipments, sum(sum_cost) AS sum_cost, sum(sum_weight) AS sum_weight,
	              sum(sum_cpk) AS sum_cpk, sum(sum_cpt) AS sum_cpt, sum(on_time_day) AS on_time_day
	       FROM agg_routes WHERE grain = 0 AND period IN (SELECT day FROM refresh_days)
	       GROUP BY 1, 2, 3, 4) n
	 LEFT JOIN replaced_routes o
	   ON o.year = n.year AND o.origin = n.origin AND o.destination = n.destination
	  AND o.delivery_time = n.delivery_time
	 ON CONFLICT (period, origin, destination, delivery_time) WHERE grain = 2 DO UPDATE SET
	     shipments = a.shipments + EXCLUDED.shipments, sum_cost = a.sum_cost + EXCLUDED.sum_cost,
	     sum_weight = a.sum_weight + EXCLUDED.sum_weight, sum_cpk = a.sum_cpk + EXCLUDED.sum_cpk,
	     sum_cpt = a.sum_cpt + EXCLUDED.sum_cpt, on_time_day = a.on_time_day + EXCLUDED.on_time_day`,
}

// routeTotalsSQL updates the all-time figures of the routes the refreshed
// days touched: minus what their replaced day rows contributed, plus the new
// rows. Raw rows are never deleted, so a day's new rows include its old ones
// and the minimum and maximum can only widen. Distinct vehicles are counted
// again, per touched route.
var routeTotalsSQL = []string{
	`CREATE TEMP TABLE new_routes ON COMMIT DROP AS
	 SELECT origin, destination, sum(n) AS n, sum(sum_cost) AS sum_cost, sum(sum_weight) AS sum_weight,
	        sum(dt * n) AS sum_dt, min(dt) AS min_dt, max(dt) AS max_dt
	 FROM stage_rt GROUP BY 1, 2`,
	`ANALYZE new_routes`,
	`INSERT INTO agg_route_totals AS t (origin, destination, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles)
	 SELECT n.origin, n.destination, n.n - coalesce(o.n, 0), n.sum_cost - coalesce(o.sum_cost, 0),
	        n.sum_weight - coalesce(o.sum_weight, 0), n.sum_dt - coalesce(o.sum_dt, 0), n.min_dt, n.max_dt,
	        (SELECT count(DISTINCT v.vehicle_id) FROM agg_vehicle_routes v
	         WHERE v.origin = n.origin AND v.destination = n.destination)
	 FROM new_routes n
	 LEFT JOIN (SELECT origin, destination, sum(shipments) AS n, sum(sum_cost) AS sum_cost,
	                   sum(sum_weight) AS sum_weight, sum(delivery_time * shipments) AS sum_dt
	            FROM replaced_routes GROUP BY 1, 2) o
	   ON o.origin = n.origin AND o.destination = n.destination
	 ON CONFLICT (origin, destination) DO UPDATE SET
	     shipments = t.shipments + EXCLUDED.shipments, sum_cost = t.sum_cost + EXCLUDED.sum_cost,
	     sum_weight = t.sum_weight + EXCLUDED.sum_weight, sum_dt = t.sum_dt + EXCLUDED.sum_dt,
	     min_dt = least(t.min_dt, EXCLUDED.min_dt), max_dt = greatest(t.max_dt, EXCLUDED.max_dt),
	     unique_vehicles = EXCLUDED.unique_vehicles`,
}

// vehicleInfoSQL snapshots the vehicles' names and lifetime mileage.
// Vehicles are never deleted, only replaced (docs/data.md#45-duplicates-and-re-delivery).
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
