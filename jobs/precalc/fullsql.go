package precalc

// The full rebuild's SQL. It reads the raw tables whole and writes the day
// rows straight into the rollup tables' copies; the month, year and total
// rows are then added up from those. Names are the rollup tables'; onNext
// points them at the copies.
//
// At ten million shipments nearly every (day, route, delivery time) and
// (day, vehicle, route) group holds one shipment, so the day rows are as
// many as the shipments and their grouping is a sort of the shipments. The
// planner, which expects far fewer groups, would hash them and sort the
// result again; sorting once is a quarter faster, so those two statements run
// with hash aggregation off.

const (
	hashAggOff   = `SET LOCAL enable_hashagg = off`
	hashAggReset = `RESET enable_hashagg`
)

// fullRouteDaysSQL groups the shipments by day, route and delivery time;
// on_time_day compares each group with its (day, route), which the same sort
// orders together (see insertRouteDaysSQL). The window adds up in int4 and
// float8, not numeric, which costs a sixth of the statement: float8 holds
// Σ delivery_time·shipments of one day and route exactly below 2^53.
const fullRouteDaysSQL = `INSERT INTO agg_routes (grain, period, origin, destination, delivery_time, shipments, sum_cost,
     sum_weight, sum_cpk, sum_cpt, on_time_day)
 SELECT 0, trip_date, origin, destination, delivery_time, count(*), sum(cost), sum(weight),
        sum(cost / weight), sum(cost / delivery_time),
        CASE WHEN delivery_time * sum(count(*)::int) OVER w <= sum((delivery_time * count(*))::float8) OVER w
             THEN count(*) ELSE 0 END
 FROM shipments
 GROUP BY trip_date, origin, destination, delivery_time
 WINDOW w AS (PARTITION BY trip_date, origin, destination)`

// fullRouteTotalsSQL adds up each route's year rows. Its distinct vehicles
// come from the other lane (routeVehiclesSQL), set at the swap.
const fullRouteTotalsSQL = `INSERT INTO agg_route_totals (origin, destination, shipments, sum_cost, sum_weight, sum_dt,
     min_dt, max_dt, unique_vehicles)
 SELECT origin, destination, sum(shipments), sum(sum_cost), sum(sum_weight), sum(delivery_time::bigint * shipments),
        min(delivery_time), max(delivery_time), 0
 FROM agg_routes WHERE grain = 2
 GROUP BY 1, 2`

// fullTotalDaysSQL adds up each day's logs and shipments. Its distinct
// vehicles come from the other lane (dayVehiclesSQL), set at the swap.
var fullTotalDaysSQL = totalDaysSQL(`SELECT l.trip_date AS day, count(*) AS logs, sum(l.mileage) AS mileage,
        sum(l.fuel_used) AS fuel, coalesce(sum(l.mileage) FILTER (WHERE c.log_id IS NOT NULL), 0) AS carrying_mileage
 FROM vehicle_logs l
 LEFT JOIN (SELECT DISTINCT log_id FROM shipments) c ON c.log_id = l.log_id
 GROUP BY 1`,
	`SELECT trip_date AS day, count(*) AS n, sum(cost) AS sum_cost, sum(weight) AS sum_weight,
        sum(delivery_time) AS sum_dt, sum(delivery_time::numeric * delivery_time) AS sum_dt2,
        min(delivery_time) AS min_dt, max(delivery_time) AS max_dt,
        min(cost / weight) AS min_cpk, max(cost / weight) AS max_cpk
 FROM shipments GROUP BY 1`,
	"0", "")

// fullVehicleRouteDaysSQL groups the shipments by vehicle, day and route,
// counting the logs that carried them: by log first, so one sort serves
// both levels (count(DISTINCT) would sort each group again). The rows come
// out in primary key order, which makes building that key cheap.
const fullVehicleRouteDaysSQL = `INSERT INTO agg_vehicle_routes (vehicle_id, period, origin, destination, trips, shipments,
     sum_cost, sum_dt)
 SELECT vehicle_id, trip_date, origin, destination, count(*), sum(n), sum(sum_cost), sum(sum_dt)
 FROM (SELECT vehicle_id, trip_date, origin, destination, log_id, count(*) AS n, sum(cost) AS sum_cost,
              sum(delivery_time) AS sum_dt
       FROM shipments
       GROUP BY vehicle_id, trip_date, origin, destination, log_id) x
 GROUP BY vehicle_id, trip_date, origin, destination`

// fullVehicleDaysSQL adds up each vehicle's logs and shipments per day.
const fullVehicleDaysSQL = `INSERT INTO agg_vehicles (grain, period, vehicle_id, trips, mileage, fuel, shipments, sum_cost, sum_dt)
 SELECT 0, coalesce(l.day, s.day), coalesce(l.vehicle_id, s.vehicle_id),
        coalesce(l.trips, 0), coalesce(l.mileage, 0), coalesce(l.fuel, 0),
        coalesce(s.n, 0), coalesce(s.sum_cost, 0), coalesce(s.sum_dt, 0)
 FROM (SELECT trip_date AS day, vehicle_id, count(*) AS trips, sum(mileage) AS mileage, sum(fuel_used) AS fuel
       FROM vehicle_logs GROUP BY 1, 2) l
 FULL JOIN (SELECT period AS day, vehicle_id, sum(shipments) AS n, sum(sum_cost) AS sum_cost, sum(sum_dt) AS sum_dt
            FROM agg_vehicle_routes GROUP BY 1, 2) s
   ON s.day = l.day AND s.vehicle_id = l.vehicle_id`

// The lanes' hand-overs: figures the second lane counts for the first
// lane's tables, merged at the swap and dropped there, or by the next
// rebuild.
var handovers = []string{"agg_route_vehicles", "agg_day_vehicles"}

var (
	// routeVehiclesSQL counts each route's distinct vehicles.
	routeVehiclesSQL = []string{
		`CREATE TABLE agg_route_vehicles (origin text, destination text, vehicles bigint) ` + noAutovacuum,
		`INSERT INTO agg_route_vehicles (origin, destination, vehicles)
		 SELECT origin, destination, count(*)
		 FROM (SELECT DISTINCT origin, destination, vehicle_id FROM agg_vehicle_routes) x
		 GROUP BY 1, 2`,
	}
	// dayVehiclesSQL counts each day's distinct vehicles that carried a shipment.
	dayVehiclesSQL = []string{
		`CREATE TABLE agg_day_vehicles (day date, vehicles bigint) ` + noAutovacuum,
		`INSERT INTO agg_day_vehicles (day, vehicles)
		 SELECT period, count(*) FROM agg_vehicles WHERE grain = 0 AND shipments > 0 GROUP BY 1`,
	}
	// mergeHandoversSQL completes the copies with the hand-overs; the
	// total rows' months and years are added up after it.
	mergeHandoversSQL = []string{
		`UPDATE agg_route_totals t SET unique_vehicles = v.vehicles
		 FROM agg_route_vehicles v WHERE v.origin = t.origin AND v.destination = t.destination`,
		`UPDATE agg_totals t SET vehicle_days = d.vehicles
		 FROM agg_day_vehicles d WHERE t.grain = 0 AND t.period = d.day`,
	}
)
