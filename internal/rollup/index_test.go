package rollup_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/rollup"
)

// TestRouteIndexMatchesSQL: for any window, the route index returns what
// ReadRoutes reads from the day rows: the same routes in the same order,
// the same counts and exact sums, and float sums equal but for the order
// they were added in.
func TestRouteIndexMatchesSQL(t *testing.T) {
	ctx := context.Background()
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
	tx := seeded(t, stmts)
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

// seeded runs stmts on a new database and returns a transaction that
// reads it as the API does.
func seeded(t *testing.T, stmts []string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.New(t))
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatalf("%v\n%.200s", err, s)
		}
	}
	tx, err := rollup.Begin(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	return tx
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

// TestVehicleIndexMatchesSQL: for any window, the vehicle index returns
// what ReadVehicles and CountVehicles read, and ReadVehicleDays a vehicle's
// days, when a vehicle's days are kept in rows of a month (the rebuild's)
// and of a year (refreshes' segments) that may each hold a day.
func TestVehicleIndexMatchesSQL(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	var values []string
	for range 3000 {
		day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(1096)).Format(time.DateOnly)
		trips, ships := rng.IntN(3), rng.IntN(4)
		values = append(values, fmt.Sprintf("('V%d', '%s', %d, %d, %.2f, %.2f, %d, %.2f, %d)",
			rng.IntN(8), day, rng.IntN(3), trips, float64(trips)*rng.Float64()*300, float64(trips)*rng.Float64()*40,
			ships, float64(ships)*rng.Float64()*500, ships*(1+rng.IntN(12))))
	}
	stmts := []string{
		`CREATE TABLE e (vehicle_id text, day date, segment int, trips int, mileage float8, fuel float8, n int,
		     cost float8, dt bigint)`,
		`INSERT INTO e VALUES ` + join(values),
		`CREATE TABLE d AS SELECT vehicle_id, day, segment, sum(trips)::int AS trips, sum(mileage) AS mileage,
		     sum(fuel) AS fuel, sum(n)::int AS n, sum(cost) AS cost, sum(dt)::bigint AS dt
		 FROM e GROUP BY 1, 2, 3`,
		`INSERT INTO agg_vehicle_days SELECT vehicle_id, date_trunc(CASE WHEN segment > 0 THEN 'year' ELSE 'month' END, day)::date, segment,
		     array_agg(day ORDER BY day), array_agg(trips ORDER BY day), array_agg(mileage ORDER BY day),
		     array_agg(fuel ORDER BY day), array_agg(n ORDER BY day), array_agg(cost ORDER BY day), array_agg(dt ORDER BY day)
		 FROM d GROUP BY 1, 2, 3`,
		`INSERT INTO agg_vehicles SELECT g, p, segment, array_agg(v ORDER BY v), array_agg(trips ORDER BY v),
		     array_agg(mileage ORDER BY v), array_agg(fuel ORDER BY v), array_agg(n ORDER BY v),
		     array_agg(cost ORDER BY v), array_agg(dt ORDER BY v)
		 FROM (SELECT g, p, segment, vehicle_id COLLATE "C" AS v, sum(trips) AS trips, sum(mileage) AS mileage,
		              sum(fuel) AS fuel, sum(n) AS n, sum(cost) AS cost, sum(dt)::bigint AS dt
		       FROM e, LATERAL (VALUES (1, date_trunc('month', day)::date), (2, date_trunc('year', day)::date)) AS x(g, p)
		       GROUP BY 1, 2, 3, 4) x
		 GROUP BY 1, 2, 3`,
		`INSERT INTO agg_vehicle_info VALUES ('V1', 'one', 12.5), ('V2', 'two', 0)`,
		`UPDATE precalc_state SET version = 3`,
	}
	tx := seeded(t, stmts)
	var repeated int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM d GROUP BY vehicle_id, day HAVING count(*) > 1) x`).
		Scan(&repeated); err != nil || repeated < 100 {
		t.Fatalf("%d days stand in more than one segment (%v): the data does not exercise their merge", repeated, err)
	}
	index, err := rollup.LoadIndex(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	var days int
	if err := tx.QueryRow(ctx, `SELECT count(DISTINCT (vehicle_id, day)) FROM d`).Scan(&days); err != nil {
		t.Fatal(err)
	}
	if got := index.Vehicles.Entries(); got != days {
		t.Errorf("index of %d entries, want one per vehicle and day: %d", got, days)
	}
	windows := []rollup.Window{
		win("2024-02-29", "2024-02-29"), win("2024-02-28", "2024-03-01"), win("2023-01-01", "2025-12-31"),
		win("1900-01-01", "2199-12-31"), win("2024-03-01", "2024-02-29"), win("2022-12-31", "2023-01-01"),
	}
	for range 40 {
		a := time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(1200))
		windows = append(windows, rollup.Window{Start: a, End: a.AddDate(0, 0, rng.IntN(400))})
	}
	for _, w := range windows {
		name := w.Start.Format(time.DateOnly) + ".." + w.End.Format(time.DateOnly)
		want, err := rollup.ReadVehicles(ctx, tx, w)
		if err != nil {
			t.Fatal(err)
		}
		got := index.Vehicles.Vehicles(w)
		if len(got) != len(want) {
			t.Errorf("%s: %d vehicles, want %d", name, len(got), len(want))
			continue
		}
		for i := range want {
			if d := vehicleDiff(got[i], want[i]); d != "" {
				t.Errorf("%s: vehicle %s: %s", name, want[i].ID, d)
			}
		}
		count, err := rollup.CountVehicles(ctx, tx, w)
		if err != nil {
			t.Fatal(err)
		}
		if n := index.Vehicles.CountVehicles(w); n != count {
			t.Errorf("%s: index counts %d vehicles, SQL %d", name, n, count)
		}
		checkVehicleDays(t, tx, w, name)
	}
}

// checkVehicleDays compares ReadVehicleDays with the test's own sums of
// vehicle V1's days with a log.
func checkVehicleDays(t *testing.T, tx rollup.Querier, w rollup.Window, name string) {
	t.Helper()
	ctx := context.Background()
	got, err := rollup.ReadVehicleDays(ctx, tx, "V1", w)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `SELECT day, sum(trips)::bigint, sum(mileage), sum(fuel), sum(n)::bigint, sum(cost), sum(dt)::bigint
		FROM e WHERE vehicle_id = 'V1' AND day BETWEEN $1 AND $2 GROUP BY 1 HAVING sum(trips) > 0 ORDER BY 1`, w.Start, w.End)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var d rollup.VehicleDay
		if err := rows.Scan(&d.Day, &d.Trips, &d.Mileage, &d.Fuel, &d.Shipments, &d.SumCost, &d.SumDT); err != nil {
			t.Fatal(err)
		}
		if i >= len(got) {
			continue
		}
		g := got[i]
		if !g.Day.Equal(d.Day) || g.Trips != d.Trips || g.Shipments != d.Shipments || g.SumDT != d.SumDT ||
			!near(g.Mileage, d.Mileage) || !near(g.Fuel, d.Fuel) || !near(g.SumCost, d.SumCost) {
			t.Errorf("%s: day %d of V1 %+v, want %+v", name, i, g, d)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(got) {
		t.Errorf("%s: %d days of V1, want %d", name, len(got), i)
	}
}

// vehicleDiff describes how got differs from want: exactly in names and
// counts, within a relative 1e-9 in float sums.
func vehicleDiff(got, want rollup.Vehicle) string {
	if got.VehicleInfo != want.VehicleInfo || got.Trips != want.Trips || got.Shipments != want.Shipments ||
		got.SumDT != want.SumDT || !near(got.Mileage, want.Mileage) || !near(got.Fuel, want.Fuel) ||
		!near(got.SumCost, want.SumCost) {
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	return ""
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
