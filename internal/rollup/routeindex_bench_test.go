package rollup

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkRouteIndexRoutes: one window's route list from the index, over
// haul gen's shape (routes of 300 cities, three years, 13 delivery times a
// route), for windows of a day, 90 days and the whole range. The cost
// should follow the routes, not the window's length: compare the whole
// range's ns/op with the 90 days'.
func BenchmarkRouteIndexRoutes(b *testing.B) {
	const routes, days = 90_000, 1096
	entries := 2_000_000
	if testing.Short() {
		entries = 200_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]RouteKey, routes)
	for i := range keys {
		keys[i] = RouteKey{Origin: fmt.Sprintf("City %03d", i/300), Destination: fmt.Sprintf("City %03d", i%300)}
	}
	first := epochDay(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC))
	rows := make([]indexRow, entries)
	for i := range rows {
		// Popular routes far more often, as haul gen draws cities.
		u, v := rng.Float64(), rng.Float64()
		r := int32(u*u*300)*300 + int32(v*v*300)
		rows[i] = indexRow{route: r, dt: 4 + r%44 + int32(rng.IntN(13)) - 6, day: first + int32(rng.IntN(days)),
			n: 1, onTime: int64(rng.IntN(2)), cost: 5 + rng.Float64()*1500, weight: 0.5 + rng.Float64()*99}
		rows[i].cpk = rows[i].cost / rows[i].weight
	}
	x := buildRouteIndex(1, keys, rows)
	b.Logf("%d entries in %d runs, about %d MB", x.Entries(), len(x.runDT), x.Bytes()>>20)
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		days int
	}{{"1day", 1}, {"90days", 90}, {"whole", days}} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			for i := 0; b.Loop(); i++ {
				a := start.AddDate(0, 0, (i*37)%(days-c.days+1))
				n += len(x.Routes(Window{Start: a, End: a.AddDate(0, 0, c.days-1)}))
			}
			b.ReportMetric(float64(n)/float64(b.N), "routes/op")
		})
	}
}

// indexRow is a route day row, as the benchmark makes them.
type indexRow struct {
	route, dt, day    int32
	n, onTime         int64
	cost, weight, cpk float64
}

// buildRouteIndex arranges rows of the routes keys (in name order), in any
// order, into a RouteIndex, as LoadRouteIndex does with the rows it reads.
func buildRouteIndex(version int64, keys []RouteKey, rows []indexRow) *RouteIndex {
	type runKey struct{ route, dt int32 }
	counts := map[runKey]int32{}
	s := &routeShape{routes: keys, minDay: math.MaxInt32, maxDay: math.MinInt32}
	for _, r := range rows {
		counts[runKey{r.route, r.dt}]++
		s.minDay, s.maxDay = min(s.minDay, r.day), max(s.maxDay, r.day)
	}
	runs := make([]runKey, 0, len(counts))
	for k := range counts {
		runs = append(runs, k)
	}
	slices.SortFunc(runs, func(a, b runKey) int { return cmpInt32(a.route, b.route)*2 + cmpInt32(a.dt, b.dt) })
	for r := range keys {
		s.firstRun = append(s.firstRun, int32(len(s.runDT)))
		for len(s.runDT) < len(runs) && runs[len(s.runDT)].route == int32(r) {
			s.runDT = append(s.runDT, runs[len(s.runDT)].dt)
			s.entries = append(s.entries, counts[runs[len(s.entries)]])
		}
	}
	s.firstRun = append(s.firstRun, int32(len(s.runDT)))
	b := newRouteIndexBuilder(version, s)
	for _, r := range rows {
		if err := b.add(s.run(r.route, r.dt), r.day, r.n, r.onTime, r.cost, r.weight, r.cpk); err != nil {
			panic(err)
		}
	}
	x, err := b.finish()
	if err != nil {
		panic(err)
	}
	return x
}

func cmpInt32(a, b int32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
