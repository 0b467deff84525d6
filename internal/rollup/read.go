package rollup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/haul-dev/haul/internal/db"
)

// Querier runs queries: a pgx.Tx, so that every figure of one answer comes
// from one version of the aggregates (see Begin).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Beginner starts transactions: a pool or a connection.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Begin starts the read-only snapshot one answer is computed in: a refresh
// committing meanwhile is not seen, so every figure comes from one version.
// It locks the rollup tables first (db.AggregateTables): a full rebuild
// swaps them, and a snapshot taken before the swap would see the new tables
// empty. The snapshot is taken by the first query, after the locks.
func Begin(ctx context.Context, b Beginner) (pgx.Tx, error) {
	tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	if _, err := tx.Exec(ctx, lockTablesSQL); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("lock aggregates: %w", err)
	}
	return tx, nil
}

var lockTablesSQL = func() string {
	tables := make([]string, len(db.AggregateTables))
	for i, t := range db.AggregateTables {
		tables[i] = pgx.Identifier{t}.Sanitize()
	}
	return "LOCK TABLE " + strings.Join(tables, ", ") + " IN ACCESS SHARE MODE"
}()

// Stats are the additive figures of a set of shipments.
type Stats struct {
	Shipments int64
	SumCost   float64
	SumWeight float64
	// SumDT is exact; SumDT2 (Σ delivery_time²) is exact too, as it can
	// exceed an int64.
	SumDT  int64
	SumDT2 *big.Int
	// MinDT and MaxDT are 0 when there are no shipments.
	MinDT, MaxDT int64
}

// MeanDT is Σt / n, 0 for no shipments.
func (s Stats) MeanDT() float64 {
	if s.Shipments == 0 {
		return 0
	}
	return float64(s.SumDT) / float64(s.Shipments)
}

// SDDT is the sample standard deviation of delivery_time (docs/api.md#12-windows-and-dates):
// sqrt((Σt² − (Σt)²/n) / (n − 1)), 0 for n < 2, the variance clamped at 0.
// The numerator n·Σt² − (Σt)² is computed exactly.
func (s Stats) SDDT() float64 {
	n := s.Shipments
	if n < 2 || s.SumDT2 == nil {
		return 0
	}
	// Most routes' sums are small: in 64 bits, the same exact numerator
	// costs no allocation, and below 2^53 its quotient rounds as the big
	// one does (the divisor is exact up to n = 2^26).
	if sq := s.SumDT2; sq.IsUint64() && s.SumDT < 1<<31 && n < 1<<26 {
		hi, a := bits.Mul64(uint64(n), sq.Uint64())
		b := uint64(s.SumDT) * uint64(s.SumDT)
		switch {
		case hi == 0 && a <= b:
			return 0
		case hi == 0 && a-b < 1<<53:
			return math.Sqrt(float64(a-b) / (float64(n) * float64(n-1)))
		}
	}
	num := new(big.Int).Mul(big.NewInt(n), s.SumDT2)
	num.Sub(num, new(big.Int).Mul(big.NewInt(s.SumDT), big.NewInt(s.SumDT)))
	if num.Sign() <= 0 {
		return 0
	}
	v, _ := new(big.Float).Quo(new(big.Float).SetInt(num), big.NewFloat(float64(n)*float64(n-1))).Float64()
	return math.Sqrt(v)
}

// Totals are a window's figures over all its logs and shipments.
type Totals struct {
	Stats
	Logs    int64
	Mileage float64
	Fuel    float64
	// CarryingMileage is the mileage of the logs that carried a shipment.
	CarryingMileage float64
	// MinCPK and MaxCPK bound cost / weight over single shipments.
	MinCPK, MaxCPK float64
	// ShipDays counts the days with a shipment; VehicleDays adds, over
	// those days, the number of distinct vehicles that carried one.
	ShipDays, VehicleDays int64
	// Vehicles counts the distinct vehicles that carried a shipment in the
	// window (distinct origins and destinations: see Places).
	Vehicles int64
}

// ReadTotals returns the window's totals.
func ReadTotals(ctx context.Context, q Querier, w Window) (Totals, error) {
	out, err := ReadTotalsExceptVehicles(ctx, q, w)
	if err != nil {
		return out, err
	}
	out.Vehicles, err = CountVehicles(ctx, q, w)
	return out, err
}

// ReadTotalsExceptVehicles returns the window's totals but Vehicles, which
// CountVehicles or a VehicleIndex count.
func ReadTotalsExceptVehicles(ctx context.Context, q Querier, w Window) (Totals, error) {
	g, f, t := w.spanArgs()
	var out Totals
	var minDT, maxDT pgtype.Int8
	var minCPK, maxCPK pgtype.Float8
	var dt2 string
	err := q.QueryRow(ctx, `
SELECT coalesce(sum(a.logs), 0)::bigint, coalesce(sum(a.mileage), 0), coalesce(sum(a.fuel), 0),
       coalesce(sum(a.carrying_mileage), 0), coalesce(sum(a.shipments), 0)::bigint,
       coalesce(sum(a.sum_cost), 0), coalesce(sum(a.sum_weight), 0), coalesce(sum(a.sum_dt), 0)::bigint,
       coalesce(sum(a.sum_dt2), 0)::text, min(a.min_dt), max(a.max_dt), min(a.min_cpk), max(a.max_cpk),
       coalesce(sum(a.ship_days), 0)::bigint, coalesce(sum(a.vehicle_days), 0)::bigint
FROM agg_totals a `+spansJoin("a"), g, f, t).Scan(
		&out.Logs, &out.Mileage, &out.Fuel, &out.CarryingMileage, &out.Shipments,
		&out.SumCost, &out.SumWeight, &out.SumDT, &dt2, &minDT, &maxDT, &minCPK, &maxCPK,
		&out.ShipDays, &out.VehicleDays)
	if err != nil {
		return out, fmt.Errorf("read totals: %w", err)
	}
	out.MinDT, out.MaxDT = minDT.Int64, maxDT.Int64
	out.MinCPK, out.MaxCPK = minCPK.Float64, maxCPK.Float64
	out.SumDT2, err = bigInt(dt2)
	return out, err
}

// CountVehicles counts the distinct vehicles that carried a shipment in the
// window.
func CountVehicles(ctx context.Context, q Querier, w Window) (int64, error) {
	g, f, t := w.spanArgs()
	var n int64
	err := q.QueryRow(ctx, `SELECT count(DISTINCT v.vehicle_id) FROM agg_vehicles v `+spansJoin("v")+
		` WHERE v.shipments > 0`, g, f, t).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count vehicles: %w", err)
	}
	return n, nil
}

// RouteKey names a route.
type RouteKey struct {
	Origin, Destination string
}

// Route is a route's figures over a window.
type Route struct {
	RouteKey
	Stats
	// SumCPK and SumCPT add cost/weight and cost/delivery_time over the
	// route's shipments.
	SumCPK, SumCPT float64
	// OnTimeDay counts shipments at or below their route's mean delivery
	// time of the same day (docs/api.md#39-get-apiroutetop-performing).
	OnTimeDay int64
	// OnTimeWindow counts shipments within one hour of the route's mean
	// over the window, delivery_time ≤ mean + 1 (docs/api.md#36-get-apiroutereliability).
	OnTimeWindow int64
}

// ReadRoutes returns every route with a shipment in the window, ordered by
// origin and destination, from the window's days' route entries.
func ReadRoutes(ctx context.Context, q Querier, w Window) ([]Route, error) {
	acc := routeAdder{byOrigin: map[string]map[string]*routeSum{}}
	var (
		route  []int32
		onTime []int64
		group  [][2]int64
	)
	err := readRouteDays(ctx, q, func(d *routeDay) error {
		route = route[:0]
		for i := range d.dt {
			route = append(route, acc.route(d.origin[i], d.destination[i]).id)
		}
		onTime, group = onTimeDay(d, route, len(acc.all), onTime, group)
		for i, id := range route {
			r := acc.all[id]
			n := d.n[i]
			r.Shipments += n
			r.SumCost += d.cost[i]
			r.SumWeight += d.weight[i]
			r.SumCPK += d.cpk[i]
			r.SumCPT += d.cpt[i]
			r.OnTimeDay += onTime[i]
			r.add(int64(d.dt[i]), n)
		}
		return nil
	}, routeWindowSQL, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	return acc.routes(), nil
}

func float8(b []byte) float64 { return math.Float64frombits(binary.BigEndian.Uint64(b)) }

// routeAdder adds entries up per route, interning the route's names once.
type routeAdder struct {
	byOrigin map[string]map[string]*routeSum
	all      []*routeSum // by id
}

// routeSum is a route being added up, with its delivery time histogram.
type routeSum struct {
	Route
	id   int32
	hist []dtCount
}

type dtCount struct{ dt, n int64 }

func (a *routeAdder) route(origin, destination []byte) *routeSum {
	dests, ok := a.byOrigin[string(origin)]
	if !ok {
		dests = map[string]*routeSum{}
		a.byOrigin[string(origin)] = dests
	}
	r, ok := dests[string(destination)]
	if !ok {
		r = &routeSum{Route: Route{RouteKey: RouteKey{Origin: string(origin), Destination: string(destination)}},
			id: int32(len(a.all))}
		dests[string(destination)] = r
		a.all = append(a.all, r)
	}
	return r
}

func (r *routeSum) add(dt, n int64) {
	for i := range r.hist {
		if r.hist[i].dt == dt {
			r.hist[i].n += n
			return
		}
	}
	r.hist = append(r.hist, dtCount{dt, n})
}

// routes finishes every route (finishRoute), ordered by origin and
// destination.
func (a *routeAdder) routes() []Route {
	out := make([]Route, 0, len(a.all))
	var sq squares
	for _, dests := range a.byOrigin {
		for _, r := range dests {
			finishRoute(&r.Route, r.hist, &sq)
			out = append(out, r.Route)
		}
	}
	slices.SortFunc(out, func(x, y Route) int { return compareKeys(x.RouteKey, y.RouteKey) })
	return out
}

// collect scans every row into a T through the fields scan points at.
func collect[T any](rows pgx.Rows, what string, scan func(*T) []any) ([]T, error) {
	var out []T
	var v T
	_, err := pgx.ForEachRow(rows, scan(&v), func() error {
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return out, nil
}

// bigInt parses an exact integer PostgreSQL printed.
func bigInt(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("sum of squares %q is not an integer", s)
	}
	return v, nil
}

// Places counts the distinct origins and destinations of routes.
func Places(routes []Route) (origins, destinations int64) {
	o := make(map[string]struct{}, len(routes))
	d := make(map[string]struct{}, len(routes))
	for _, r := range routes {
		o[r.Origin] = struct{}{}
		d[r.Destination] = struct{}{}
	}
	return int64(len(o)), int64(len(d))
}

// RouteVehicles counts, for each of the given routes, the distinct vehicles
// that carried its shipments in the window.
func RouteVehicles(ctx context.Context, q Querier, w Window, routes []RouteKey) (map[RouteKey]int64, error) {
	origins := make([]string, len(routes))
	dests := make([]string, len(routes))
	for i, r := range routes {
		origins[i], dests[i] = r.Origin, r.Destination
	}
	rows, err := q.Query(ctx, `
SELECT v.origin, v.destination, count(DISTINCT u.vehicle_id)
FROM unnest($1::text[], $2::text[]) AS r(origin, destination)
JOIN agg_route_vehicles v ON v.origin = r.origin AND v.destination = r.destination
CROSS JOIN LATERAL unnest(v.days, v.vehicle_ids) AS u(day, vehicle_id)
WHERE u.day BETWEEN $3 AND $4
GROUP BY 1, 2`, origins, dests, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read route vehicles: %w", err)
	}
	out := make(map[RouteKey]int64, len(routes))
	var k RouteKey
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&k.Origin, &k.Destination, &n}, func() error {
		out[k] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read route vehicles: %w", err)
	}
	return out, nil
}

// RouteTotal is a route's figures over all time.
type RouteTotal struct {
	RouteKey
	Stats
	UniqueVehicles int64
}

// ReadRouteTotals returns every route's all-time figures, ordered by origin
// and destination. SumDT2 is not kept all-time and is left nil.
func ReadRouteTotals(ctx context.Context, q Querier) ([]RouteTotal, error) {
	rows, err := q.Query(ctx, `
SELECT origin, destination, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles
FROM agg_route_totals ORDER BY origin, destination`)
	if err != nil {
		return nil, fmt.Errorf("read route totals: %w", err)
	}
	return collect(rows, "route totals", func(r *RouteTotal) []any {
		return []any{&r.Origin, &r.Destination, &r.Shipments, &r.SumCost, &r.SumWeight,
			&r.SumDT, &r.MinDT, &r.MaxDT, &r.UniqueVehicles}
	})
}

// VehicleInfo is a vehicle as of the served version.
type VehicleInfo struct {
	ID, Name     string
	TotalMileage float64
}

// Vehicle is a vehicle's figures over a window: its logs and the shipments
// they carried.
type Vehicle struct {
	VehicleInfo
	Trips     int64
	Mileage   float64
	Fuel      float64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicles returns every vehicle with a log in the window, ordered by id.
func ReadVehicles(ctx context.Context, q Querier, w Window) ([]Vehicle, error) {
	g, f, t := w.spanArgs()
	rows, err := q.Query(ctx, `
SELECT a.vehicle_id, coalesce(i.name, ''), coalesce(i.total_mileage, 0), sum(a.trips)::bigint,
       sum(a.mileage), sum(a.fuel), sum(a.shipments)::bigint, sum(a.sum_cost), sum(a.sum_dt)::bigint
FROM agg_vehicles a `+spansJoin("a")+`
LEFT JOIN agg_vehicle_info i ON i.vehicle_id = a.vehicle_id
GROUP BY 1, 2, 3
HAVING sum(a.trips) > 0
ORDER BY 1`, g, f, t)
	if err != nil {
		return nil, fmt.Errorf("read vehicles: %w", err)
	}
	return collect(rows, "vehicles", func(v *Vehicle) []any {
		return []any{&v.ID, &v.Name, &v.TotalMileage, &v.Trips, &v.Mileage, &v.Fuel, &v.Shipments, &v.SumCost, &v.SumDT}
	})
}

// ReadVehicleInfo returns a vehicle of the served version; ok is false if
// there is no such vehicle.
func ReadVehicleInfo(ctx context.Context, q Querier, id string) (info VehicleInfo, ok bool, err error) {
	err = q.QueryRow(ctx, `SELECT vehicle_id, name, total_mileage FROM agg_vehicle_info WHERE vehicle_id = $1`, id).
		Scan(&info.ID, &info.Name, &info.TotalMileage)
	if errors.Is(err, pgx.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("read vehicle %q: %w", id, err)
	}
	return info, true, nil
}

// VehicleDay is a vehicle's figures on one day.
type VehicleDay struct {
	Day       time.Time
	Trips     int64
	Mileage   float64
	Fuel      float64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicleDays returns the days of the window on which the vehicle has
// a log, in date order.
func ReadVehicleDays(ctx context.Context, q Querier, id string, w Window) ([]VehicleDay, error) {
	rows, err := q.Query(ctx, `
SELECT period, trips, mileage, fuel, shipments, sum_cost, sum_dt
FROM agg_vehicles
WHERE vehicle_id = $1 AND grain = $2 AND period BETWEEN $3 AND $4 AND trips > 0
ORDER BY period`, id, db.GrainDay, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read vehicle %q days: %w", id, err)
	}
	return collect(rows, "vehicle days", func(d *VehicleDay) []any {
		return []any{&d.Day, &d.Trips, &d.Mileage, &d.Fuel, &d.Shipments, &d.SumCost, &d.SumDT}
	})
}

// VehicleRoute is a vehicle's figures on one route over a window.
type VehicleRoute struct {
	RouteKey
	// Trips counts the vehicle's logs that carried a shipment of the route.
	Trips     int64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicleRoutes returns the routes the vehicle carried shipments on in
// the window, ordered by origin and destination.
func ReadVehicleRoutes(ctx context.Context, q Querier, id string, w Window) ([]VehicleRoute, error) {
	rows, err := q.Query(ctx, `
SELECT u.origin, u.destination, sum(u.trips)::bigint, sum(u.shipments)::bigint, sum(u.sum_cost), sum(u.sum_dt)::bigint
FROM agg_vehicle_routes v
CROSS JOIN LATERAL unnest(v.days, v.origins, v.destinations, v.trips, v.shipments, v.sum_cost, v.sum_dt)
    AS u(day, origin, destination, trips, shipments, sum_cost, sum_dt)
WHERE v.vehicle_id = $1 AND v.period BETWEEN date_trunc('year', $2::date) AND $3 AND u.day BETWEEN $2 AND $3
GROUP BY 1, 2
ORDER BY 1, 2`, id, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read vehicle %q routes: %w", id, err)
	}
	return collect(rows, "vehicle routes", func(r *VehicleRoute) []any {
		return []any{&r.Origin, &r.Destination, &r.Trips, &r.Shipments, &r.SumCost, &r.SumDT}
	})
}

// ReadVersion returns the served data version; 0 means nothing is
// servable yet.
func ReadVersion(ctx context.Context, q Querier) (int64, error) {
	var v int64
	if err := q.QueryRow(ctx, `SELECT version FROM precalc_state`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read data version: %w", err)
	}
	return v, nil
}

// State is the refresh's state as docs/api.md#311-get-apisystemstatus and Haul's own endpoints
// report it.
type State struct {
	// Version is the served data version; 0 means nothing is servable yet.
	Version     int64
	RefreshedAt *time.Time
	// Refreshing is true while a refresh holds the refresh lock.
	Refreshing  bool
	LastError   *string
	LastErrorAt *time.Time
}

// ReadState returns the refresh's state. Refreshing is read from pg_locks,
// so it cannot stay set after a refresher died.
func ReadState(ctx context.Context, q Querier) (State, error) {
	var s State
	err := q.QueryRow(ctx, `
SELECT version, refreshed_at, last_error, last_error_at,
       EXISTS (SELECT 1 FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND objsubid = 1
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid)
FROM precalc_state`, db.PrecalcLockID).Scan(&s.Version, &s.RefreshedAt, &s.LastError, &s.LastErrorAt, &s.Refreshing)
	if err != nil {
		return s, fmt.Errorf("read refresh state: %w", err)
	}
	return s, nil
}
