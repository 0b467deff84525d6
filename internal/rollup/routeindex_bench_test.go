package rollup

import (
	"fmt"
	"math/rand/v2"
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
