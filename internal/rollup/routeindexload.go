package rollup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// LoadRouteIndex reads every route day row of the version that q's snapshot
// sees (q is a Begin transaction) and arranges them into a RouteIndex. It
// reads the table twice: the runs, with their sizes (readRouteRuns), then
// the entries, each put straight in its place.
func LoadRouteIndex(ctx context.Context, q Querier) (*RouteIndex, error) {
	version, err := ReadVersion(ctx, q)
	if err != nil {
		return nil, err
	}
	shape, ids, err := readRouteRuns(ctx, q)
	if err != nil {
		return nil, err
	}
	b := newRouteIndexBuilder(version, shape)
	var (
		names  routeNames
		route  []int32
		onTime []int64
		group  [][2]int64
	)
	err = readRouteDays(ctx, q, func(d *routeDay) error {
		route = route[:0]
		for i := range d.dt {
			r, ok := names.find(ids, d.origin[i], d.destination[i])
			if !ok {
				return errors.New("an entry of no run")
			}
			route = append(route, r)
		}
		onTime, group = onTimeDay(d, route, len(shape.routes), onTime, group)
		for i, r := range route {
			k := shape.run(r, d.dt[i])
			if k < 0 {
				return errors.New("an entry of no run")
			}
			if err := b.add(k, d.day, d.n[i], onTime[i], d.cost[i], d.weight[i], d.cpk[i]); err != nil {
				return err
			}
		}
		return nil
	}, routeDaysSQL)
	if err != nil {
		return nil, fmt.Errorf("read route days: %w", err)
	}
	return b.finish()
}

// routeShape is a route index's routes and runs, before its entries.
type routeShape struct {
	routes                   []RouteKey
	firstRun, runDT, entries []int32
	// minDay and maxDay bound the entries' days.
	minDay, maxDay int32
}

// run returns route r's run of delivery time dt, -1 if it has none.
func (s *routeShape) run(r, dt int32) int32 {
	if r < 0 || int(r) >= len(s.routes) {
		return -1
	}
	lo, hi := s.firstRun[r], s.firstRun[r+1]
	k := lo + int32(searchSorted(s.runDT[lo:hi], dt))
	if k == hi || s.runDT[k] != dt {
		return -1
	}
	return k
}

// routeIDs are routes' ids by origin, then destination.
type routeIDs map[string]*originRoutes

type originRoutes struct {
	origin string
	ids    map[string]int32
}

// routeNames finds routes' ids, keeping the last origin at hand: rows of
// one origin tend to come together.
type routeNames struct{ last *originRoutes }

func (n *routeNames) find(ids routeIDs, origin, destination []byte) (int32, bool) {
	if n.last == nil || n.last.origin != string(origin) {
		if n.last = ids[string(origin)]; n.last == nil {
			return 0, false
		}
	}
	id, ok := n.last.ids[string(destination)]
	return id, ok
}

// readRouteRuns reads the routes in name order (byte order, as
// compareKeys), their runs and each run's number of entries, and the ids
// of the routes by origin and destination.
func readRouteRuns(ctx context.Context, q Querier) (*routeShape, routeIDs, error) {
	type run struct{ dt, n int32 }
	var (
		ids    = routeIDs{}
		keys   []RouteKey
		runs   [][]run // by id, in the order met
		names  routeNames
		lo, hi int32 = math.MaxInt32, math.MinInt32
	)
	err := readRouteDays(ctx, q, func(d *routeDay) error {
		lo, hi = min(lo, d.day), max(hi, d.day)
		for i, dt := range d.dt {
			id, ok := names.find(ids, d.origin[i], d.destination[i])
			if !ok {
				id = int32(len(keys))
				key := RouteKey{Origin: string(d.origin[i]), Destination: string(d.destination[i])}
				if names.last == nil || names.last.origin != key.Origin {
					if names.last = ids[key.Origin]; names.last == nil {
						names.last = &originRoutes{origin: key.Origin, ids: map[string]int32{}}
						ids[key.Origin] = names.last
					}
				}
				names.last.ids[key.Destination] = id
				keys = append(keys, key)
				runs = append(runs, nil)
			}
			rs := runs[id]
			k := 0
			for k < len(rs) && rs[k].dt != dt {
				k++
			}
			if k == len(rs) {
				runs[id] = append(rs, run{dt: dt})
			}
			runs[id][k].n++
		}
		return nil
	}, routeRunsSQL)
	if err != nil {
		return nil, nil, fmt.Errorf("read route runs: %w", err)
	}
	// Routes in name order, so that Routes returns them sorted; each
	// route's runs by delivery time.
	order := make([]int32, len(keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return compareKeys(keys[a], keys[b]) })
	s := &routeShape{routes: make([]RouteKey, len(keys)), minDay: lo, maxDay: hi}
	for r, id := range order {
		key := keys[id]
		s.routes[r] = key
		ids[key.Origin].ids[key.Destination] = int32(r)
		s.firstRun = append(s.firstRun, int32(len(s.runDT)))
		rs := runs[id]
		slices.SortFunc(rs, func(a, b run) int { return cmp.Compare(a.dt, b.dt) })
		for _, x := range rs {
			s.runDT = append(s.runDT, x.dt)
			s.entries = append(s.entries, x.n)
		}
	}
	s.firstRun = append(s.firstRun, int32(len(s.runDT)))
	return s, ids, nil
}

// pgEpochDay is PostgreSQL's date epoch, 2000-01-01, in days since 1970.
const pgEpochDay = 10957

// routeIndexBuilder puts entries, in any order, in their runs' places in
// the index's final columns, then sorts each run by day and adds it up.
type routeIndexBuilder struct {
	x *RouteIndex
	// next[k] is the place of run k's next entry.
	next []int32
}

func newRouteIndexBuilder(version int64, s *routeShape) *routeIndexBuilder {
	first := make([]int32, len(s.entries)+1)
	for k, n := range s.entries {
		first[k+1] = first[k] + n
	}
	n := int(first[len(s.entries)])
	x := &RouteIndex{
		version: version, routes: s.routes, firstRun: s.firstRun, runDT: s.runDT, firstEntry: first,
		day: newDayColumn(n, s.minDay, s.maxDay), counts: newCountPairs(n),
		cost: newFloatSums(n, false), weight: newFloatSums(n, false), cpk: newFloatSums(n, true),
	}
	return &routeIndexBuilder{x: x, next: slices.Clone(first[:len(s.entries)])}
}

// add puts a route day row in run k.
func (b *routeIndexBuilder) add(k, day int32, n, onTime int64, cost, weight, cpk float64) error {
	x := b.x
	i := int(b.next[k])
	if i == int(x.firstEntry[k+1]) {
		return errors.New("more rows than counted")
	}
	b.next[k]++
	x.day.set(i, day)
	x.counts.set(i, n, onTime)
	x.cost.set(i, cost, n)
	x.weight.set(i, weight, n)
	x.cpk.set(i, cpk, n)
	return nil
}

func (b *routeIndexBuilder) finish() (*RouteIndex, error) {
	x := b.x
	for k, i := range b.next {
		if i != x.firstEntry[k+1] {
			return nil, errors.New("fewer rows than counted")
		}
	}
	b.next = nil
	// Each run by day: rows come in the table's order.
	var (
		perm           []int32
		tmpDay16       []uint16
		tmpDay32       []int32
		tmpU32         []uint32
		tmpI64         []int64
		tmpF64         []float64
		minDay, maxDay int32 = math.MaxInt32, math.MinInt32
	)
	for k := range x.runDT {
		lo, hi := x.firstEntry[k], x.firstEntry[k+1]
		if perm = x.day.dayOrder(lo, hi, perm); perm != nil {
			permute(x.day.narrow, int(lo), perm, &tmpDay16)
			permute(x.day.wide, int(lo), perm, &tmpDay32)
			permute(x.counts.packed, int(lo), perm, &tmpU32)
			for _, c := range []*intSums{&x.counts.a, &x.counts.b} {
				permute(c.narrow, int(lo), perm, &tmpU32)
				permute(c.wide, int(lo), perm, &tmpI64)
			}
			for _, c := range []*floatSums{&x.cost, &x.weight, &x.cpk} {
				permute(c.fixed, int(lo), perm, &tmpU32)
				permute(c.raw, int(lo), perm, &tmpF64)
			}
		}
		if hi > lo {
			minDay, maxDay = min(minDay, x.day.at(lo)), max(maxDay, x.day.at(hi-1))
		}
	}
	x.counts.cumulate(x.firstEntry)
	for _, c := range []*floatSums{&x.cost, &x.weight, &x.cpk} {
		c.cumulate(x.firstEntry)
	}
	x.span = make([][2]int32, len(x.routes))
	for r := range x.routes {
		// Empty until a run widens it: a route without entries is skipped.
		sp := [2]int32{math.MaxInt32, math.MinInt32}
		for k := x.firstRun[r]; k < x.firstRun[r+1]; k++ {
			if lo, hi := x.firstEntry[k], x.firstEntry[k+1]; hi > lo {
				sp = [2]int32{min(sp[0], x.day.at(lo)), max(sp[1], x.day.at(hi-1))}
			}
		}
		x.span[r] = sp
	}
	x.days = newRouteDays(x)
	return x, nil
}
