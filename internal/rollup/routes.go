package rollup

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/pgcopy"
)

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
// that carried its shipments in the window: a route's rows of
// agg_route_vehicles, and its entries in its origin's rows of
// agg_origin_vehicles, where refreshes append theirs.
func RouteVehicles(ctx context.Context, q Querier, w Window, routes []RouteKey) (map[RouteKey]int64, error) {
	origins := make([]string, len(routes))
	dests := make([]string, len(routes))
	for i, r := range routes {
		origins[i], dests[i] = r.Origin, r.Destination
	}
	rows, err := q.Query(ctx, `
SELECT r.origin, r.destination, count(DISTINCT u.vehicle_id)
FROM unnest($1::text[], $2::text[]) AS r(origin, destination)
CROSS JOIN LATERAL (
    SELECT u.day, u.vehicle_id
    FROM agg_route_vehicles v, unnest(v.days, v.vehicle_ids) AS u(day, vehicle_id)
    WHERE v.origin = r.origin AND v.destination = r.destination
    UNION ALL
    SELECT u.day, u.vehicle_id
    FROM agg_origin_vehicles o, unnest(o.destinations, o.days, o.vehicle_ids) AS u(destination, day, vehicle_id)
    WHERE o.origin = r.origin AND u.destination = r.destination) u
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
SELECT origin, destinations, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles
FROM agg_route_totals ORDER BY origin, segment`)
	if err != nil {
		return nil, fmt.Errorf("read route totals: %w", err)
	}
	defer rows.Close()
	var out []RouteTotal
	var e originEntries
	var o originTotals
	for rows.Next() {
		v := rows.RawValues()
		if err := e.decode(v); err != nil {
			return nil, fmt.Errorf("read route totals: %w", err)
		}
		if string(v[0]) != o.origin {
			out = o.end(out)
			o = originTotals{origin: string(v[0]), first: len(out)}
		}
		out = o.add(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read route totals: %w", err)
	}
	return o.end(out), nil
}

// originTotals adds up an origin's segments of agg_route_totals: the
// rebuild's and a refresh's each, by destination.
type originTotals struct {
	origin string
	// first is the place of the origin's first route in the routes read;
	// at, once a second segment is read, the places of its destinations.
	first int
	at    map[string]int
}

// add adds e's routes to out, the routes read so far.
func (o *originTotals) add(out []RouteTotal, e *originEntries) []RouteTotal {
	if o.at == nil && len(out) > o.first {
		o.at = make(map[string]int, len(out)-o.first)
		for i := o.first; i < len(out); i++ {
			o.at[out[i].Destination] = i
		}
	}
	for i, d := range e.destinations {
		s := Stats{Shipments: e.shipments[i], SumCost: e.cost[i], SumWeight: e.weight[i], SumDT: e.dt[i],
			MinDT: e.minDT[i], MaxDT: e.maxDT[i]}
		if j, ok := o.at[string(d)]; ok {
			t := &out[j]
			t.MinDT, t.MaxDT = min(t.MinDT, s.MinDT), max(t.MaxDT, s.MaxDT)
			t.Shipments, t.SumCost, t.SumWeight, t.SumDT = t.Shipments+s.Shipments, t.SumCost+s.SumCost,
				t.SumWeight+s.SumWeight, t.SumDT+s.SumDT
			t.UniqueVehicles += e.vehicles[i]
			continue
		}
		if o.at != nil {
			o.at[string(d)] = len(out)
		}
		out = append(out, RouteTotal{RouteKey: RouteKey{Origin: o.origin, Destination: string(d)}, Stats: s,
			UniqueVehicles: e.vehicles[i]})
	}
	return out
}

// end puts the origin's routes in destination order, if they came from
// several segments.
func (o *originTotals) end(out []RouteTotal) []RouteTotal {
	if o.at != nil {
		slices.SortFunc(out[o.first:], func(a, b RouteTotal) int { return strings.Compare(a.Destination, b.Destination) })
	}
	return out
}

// originEntries are a row of agg_route_totals, decoded: an origin's routes,
// by destination; the destinations point into the row.
type originEntries struct {
	destinations                          [][]byte
	shipments, dt, minDT, maxDT, vehicles []int64
	cost, weight                          []float64
}

func (e *originEntries) decode(v [][]byte) error {
	if len(v) != 9 {
		return pgcopy.ErrArrayEncoding
	}
	var err error
	if e.destinations, err = pgcopy.TextArray(v[1], -1, e.destinations[:0]); err != nil {
		return err
	}
	n := len(e.destinations)
	e.shipments = fixedArray(&err, v[2], n, 8, e.shipments[:0], bigint)
	e.cost = fixedArray(&err, v[3], n, 8, e.cost[:0], float8)
	e.weight = fixedArray(&err, v[4], n, 8, e.weight[:0], float8)
	e.dt = fixedArray(&err, v[5], n, 8, e.dt[:0], bigint)
	e.minDT = fixedArray(&err, v[6], n, 4, e.minDT[:0], integer64)
	e.maxDT = fixedArray(&err, v[7], n, 4, e.maxDT[:0], integer64)
	e.vehicles = fixedArray(&err, v[8], n, 8, e.vehicles[:0], bigint)
	return err
}
