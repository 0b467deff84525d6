package rollup_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/rollup"
)

// TestRouteIndexMatchesSQL: for any window, the route index returns what
// ReadRoutes reads from the day rows: the same routes in the same order,
// the same counts and exact sums, and float sums equal but for the order
// they were added in.
func TestRouteIndexMatchesSQL(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.New(t))
	// Day rows of routes over 2023..2025 and a few far days, with delivery
	// times that take the on-time and Σt² arithmetic past 64 bits.
	rng := rand.New(rand.NewPCG(1, 2))
	places := []string{"Aachen", "Bonn", "Köln", "Zürich", "a", "ä"}
	days := []string{"1970-01-01", "2000-01-01", "2023-01-01", "2024-02-29", "2024-12-31", "2025-12-31", "2190-06-30"}
	var values []string
	for range 3000 {
		day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(1096)).Format(time.DateOnly)
		if rng.IntN(20) == 0 {
			day = days[rng.IntN(len(days))]
		}
		dt := 1 + rng.IntN(12)
		if rng.IntN(50) == 0 {
			dt = math.MaxInt32 - rng.IntN(3)
		}
		n := 1 + rng.IntN(3)
		cost, weight := float64(n)*(1+rng.Float64()*100), float64(n)*(0.5+rng.Float64()*50)
		values = append(values, fmt.Sprintf("('%s', %d, '%s', '%s', %d, %d, %g, %g, %g, %g)",
			day, rng.IntN(3), places[rng.IntN(len(places))], places[rng.IntN(len(places))], dt, n, cost, weight,
			cost/weight, cost/float64(dt)))
	}
	stmts := []string{
		`CREATE TABLE e (period date, segment int, origin text, destination text, dt int, n int,
		     cost float8, weight float8, cpk float8, cpt float8)`,
		`INSERT INTO e VALUES ` + join(values),
		// A day's entries in three segments, where a route and delivery
		// time may stand in more than one.
		`INSERT INTO agg_routes SELECT period, segment, array_agg(origin ORDER BY origin, destination, dt),
		     array_agg(destination ORDER BY origin, destination, dt), array_agg(dt ORDER BY origin, destination, dt),
		     array_agg(n ORDER BY origin, destination, dt), array_agg(cost ORDER BY origin, destination, dt),
		     array_agg(weight ORDER BY origin, destination, dt), array_agg(cpk ORDER BY origin, destination, dt),
		     array_agg(cpt ORDER BY origin, destination, dt)
		 FROM e GROUP BY 1, 2`,
		`UPDATE precalc_state SET version = 7`,
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatalf("%v\n%.200s", err, s)
		}
	}
	tx, err := rollup.Begin(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	index, err := rollup.LoadRouteIndex(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if index.Version() != 7 || index.Entries() == 0 {
		t.Fatalf("index of version %d with %d entries, want version 7", index.Version(), index.Entries())
	}
	windows := []rollup.Window{
		win("2024-02-29", "2024-02-29"), win("2024-02-28", "2024-03-01"), win("2023-01-01", "2025-12-31"),
		win("1900-01-01", "2199-12-31"), win("1970-01-01", "1970-01-01"), win("2026-01-01", "2190-06-29"),
		win("2024-03-01", "2024-02-29"), win("2022-12-31", "2023-01-01"),
	}
	for range 40 {
		a := time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(1200))
		windows = append(windows, rollup.Window{Start: a, End: a.AddDate(0, 0, rng.IntN(400))})
	}
	for _, w := range windows {
		want, err := rollup.ReadRoutes(ctx, tx, w)
		if err != nil {
			t.Fatal(err)
		}
		got := index.Routes(w)
		name := w.Start.Format(time.DateOnly) + ".." + w.End.Format(time.DateOnly)
		if len(got) != len(want) {
			t.Errorf("%s: %d routes, want %d", name, len(got), len(want))
			continue
		}
		for i := range want {
			if d := routeDiff(got[i], want[i]); d != "" {
				t.Errorf("%s: route %d %v: %s", name, i, want[i].RouteKey, d)
			}
		}
	}
}

func win(a, b string) rollup.Window {
	s, _ := time.Parse(time.DateOnly, a)
	e, _ := time.Parse(time.DateOnly, b)
	return rollup.Window{Start: s, End: e}
}

func join(values []string) string { return strings.Join(values, ", ") }

// routeDiff describes how got differs from want: exactly in keys, counts
// and delivery time sums, within a relative 1e-9 in float sums.
func routeDiff(got, want rollup.Route) string {
	if got.RouteKey != want.RouteKey || got.Shipments != want.Shipments || got.SumDT != want.SumDT ||
		got.MinDT != want.MinDT || got.MaxDT != want.MaxDT || got.OnTimeDay != want.OnTimeDay ||
		got.OnTimeWindow != want.OnTimeWindow || got.SumDT2.Cmp(want.SumDT2) != 0 {
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	for _, f := range [][2]float64{{got.SumCost, want.SumCost}, {got.SumWeight, want.SumWeight},
		{got.SumCPK, want.SumCPK}, {got.SumCPT, want.SumCPT}} {
		if math.Abs(f[0]-f[1]) > 1e-9*math.Max(1, math.Abs(f[1])) {
			return fmt.Sprintf("float sums %v, want %v", f[0], f[1])
		}
	}
	return ""
}
