package precalc_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/rollup"
	"github.com/haul-dev/haul/internal/testutil/pgtest"
)

// The oracles below compute each family of figures straight from the raw
// tables, with SQL written independently of the refresh's: dates come from
// the shipment's log (not the copy on the shipment), distinct counts and
// means from plain aggregates. The rollups must agree for every window.

// oracleWindows are checked on data dated 2023-01-01..2025-12-31.
var oracleWindows = []rollup.Window{
	{Start: day("2019-01-01"), End: day("2019-12-31")}, // before any data
	{Start: day("2024-02-29"), End: day("2024-02-29")}, // one day
	{Start: day("2024-03-01"), End: day("2024-03-31")}, // a month
	{Start: day("2023-11-17"), End: day("2025-02-03")}, // days, months, a year, months, days
	{Start: day("2020-01-01"), End: day("2030-12-31")}, // all time
}

func TestRollupsMatchRawTables(t *testing.T) {
	e := newEnv(t)
	cfg := datagen.Config{Shipments: 30_000, Cities: 25, FaultRate: 0.02, Seed: 7}
	e.load("first", e.generate("first", cfg))
	// A second batch on some of the same days and some new ones, loaded
	// after a refresh, so the figures come from an incremental refresh.
	e.refresh(false)
	e.load("second", e.generate("second", datagen.Config{
		Shipments: 8_000, Cities: 25, Seed: 8, IDPrefix: "B", Vehicles: 30,
		From: day("2025-06-01"), To: day("2025-12-31"),
	}))
	e.refresh(false)

	ctx := context.Background()
	tx, err := rollup.Begin(ctx, e.pool)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	o := oracle{t: t, q: tx}
	for _, w := range oracleWindows {
		name := w.Start.Format(datagen.DateLayout) + ".." + w.End.Format(datagen.DateLayout)
		t.Run(name, func(t *testing.T) {
			o := oracle{t: t, q: tx}
			o.checkTotals(w)
			o.checkRoutes(w)
			o.checkVehicles(w)
		})
	}
	// ReadVehicleRoutes reads a year the window covers whole without its
	// days: windows a day short of 2024 at either end, for vehicles with
	// shipments on the day left out.
	for _, c := range []struct {
		out string
		w   rollup.Window
	}{
		{"2024-12-31", rollup.Window{Start: day("2024-01-01"), End: day("2024-12-30")}},
		{"2024-01-01", rollup.Window{Start: day("2024-01-02"), End: day("2024-12-31")}},
	} {
		ids := pgtest.Rows(t, tx, `SELECT DISTINCT vehicle_id FROM shipments WHERE trip_date = $1 ORDER BY 1 LIMIT 3`, day(c.out))
		if len(ids) == 0 {
			t.Fatalf("no shipments on %s", c.out)
		}
		for _, r := range ids {
			o.checkVehicleDetail(r[0].(string), c.w)
		}
	}
	o.checkRouteTotals()
	o.checkVehicleInfo()
}

type oracle struct {
	t *testing.T
	q pgx.Tx
}

// shipmentsIn selects the window's shipments with the date and vehicle of
// their log; $1 and $2 are the window's ends.
const shipmentsIn = `
SELECT s.shipment_id, s.origin, s.destination, s.cost, s.weight, s.delivery_time, l.log_id, l.trip_date, l.vehicle_id
FROM shipments s JOIN vehicle_logs l ON l.log_id = s.log_id
WHERE l.trip_date BETWEEN $1 AND $2`

func (o oracle) checkTotals(w rollup.Window) {
	got, err := rollup.ReadTotals(context.Background(), o.q, w)
	if err != nil {
		o.t.Fatal(err)
	}
	want := pgtest.Rows(o.t, o.q, `
WITH s AS (`+shipmentsIn+`),
l AS (SELECT * FROM vehicle_logs WHERE trip_date BETWEEN $1 AND $2)
SELECT (SELECT count(*) FROM l), (SELECT coalesce(sum(mileage), 0) FROM l), (SELECT coalesce(sum(fuel_used), 0) FROM l),
       (SELECT coalesce(sum(mileage), 0) FROM l WHERE EXISTS (SELECT 1 FROM shipments x WHERE x.log_id = l.log_id)),
       count(*), coalesce(sum(cost), 0), coalesce(sum(weight), 0), coalesce(sum(delivery_time), 0),
       coalesce(sum(delivery_time::numeric * delivery_time), 0)::text,
       coalesce(min(delivery_time), 0), coalesce(max(delivery_time), 0),
       coalesce(min(cost / weight), 0), coalesce(max(cost / weight), 0),
       count(DISTINCT trip_date),
       (SELECT coalesce(sum(v), 0) FROM (SELECT count(DISTINCT vehicle_id) AS v FROM s GROUP BY trip_date) d),
       count(DISTINCT origin), count(DISTINCT destination), count(DISTINCT vehicle_id)
FROM s`, w.Start, w.End)[0]
	c := o.cmp("totals")
	c.int("logs", got.Logs, want[0])
	c.float("mileage", got.Mileage, want[1])
	c.float("fuel", got.Fuel, want[2])
	c.float("carrying mileage", got.CarryingMileage, want[3])
	c.int("shipments", got.Shipments, want[4])
	c.float("cost", got.SumCost, want[5])
	c.float("weight", got.SumWeight, want[6])
	c.int("Σdt", got.SumDT, want[7])
	c.big("Σdt²", got.SumDT2, want[8])
	c.int("min dt", got.MinDT, want[9])
	c.int("max dt", got.MaxDT, want[10])
	c.float("min cost/kg", got.MinCPK, want[11])
	c.float("max cost/kg", got.MaxCPK, want[12])
	c.int("days with shipments", got.ShipDays, want[13])
	c.int("vehicle-days", got.VehicleDays, want[14])
	routes, err := rollup.ReadRoutes(context.Background(), o.q, w)
	if err != nil {
		o.t.Fatal(err)
	}
	origins, destinations := rollup.Places(routes)
	c.int("origins", origins, want[15])
	c.int("destinations", destinations, want[16])
	c.int("vehicles", got.Vehicles, want[17])
	if got.Shipments > 0 {
		// The derived figures the endpoints use, against SQL's own.
		stats := pgtest.Rows(o.t, o.q, `SELECT avg(delivery_time)::float8, coalesce(stddev_samp(delivery_time), 0)::float8
			FROM (`+shipmentsIn+`) s`, w.Start, w.End)[0]
		c.float("mean dt", got.MeanDT(), stats[0])
		c.float("sd dt", got.SDDT(), stats[1])
	}
}

func (o oracle) checkRoutes(w rollup.Window) {
	got, err := rollup.ReadRoutes(context.Background(), o.q, w)
	if err != nil {
		o.t.Fatal(err)
	}
	want := pgtest.Rows(o.t, o.q, `
WITH s AS (`+shipmentsIn+`),
m AS (SELECT *, avg(delivery_time) OVER (PARTITION BY trip_date, origin, destination) AS day_mean,
             avg(delivery_time) OVER (PARTITION BY origin, destination) AS mean,
             count(*) OVER (PARTITION BY origin, destination) AS n
      FROM s)
SELECT origin, destination, count(*), sum(cost), sum(weight), sum(delivery_time),
       sum(delivery_time::numeric * delivery_time)::text, min(delivery_time), max(delivery_time),
       sum(cost / weight), sum(cost / delivery_time),
       count(*) FILTER (WHERE delivery_time <= day_mean),
       count(*) FILTER (WHERE delivery_time <= mean + 1),
       coalesce(stddev_samp(delivery_time), 0)::float8
FROM m GROUP BY 1, 2 ORDER BY 1, 2`, w.Start, w.End)
	if len(got) != len(want) {
		o.t.Fatalf("routes: %d rows, oracle has %d", len(got), len(want))
	}
	keys := make([]rollup.RouteKey, len(got))
	qualifying := 0
	for i, r := range got {
		wr := want[i]
		c := o.cmp(fmt.Sprintf("route %s -> %s", r.Origin, r.Destination))
		if r.Origin != wr[0] || r.Destination != wr[1] {
			o.t.Fatalf("route %d is %v, oracle has %v -> %v", i, r.RouteKey, wr[0], wr[1])
		}
		c.int("shipments", r.Shipments, wr[2])
		c.float("cost", r.SumCost, wr[3])
		c.float("weight", r.SumWeight, wr[4])
		c.int("Σdt", r.SumDT, wr[5])
		c.big("Σdt²", r.SumDT2, wr[6])
		c.int("min dt", r.MinDT, wr[7])
		c.int("max dt", r.MaxDT, wr[8])
		c.float("Σ cost/kg", r.SumCPK, wr[9])
		c.float("Σ cost/hour", r.SumCPT, wr[10])
		c.int("on time (same day)", r.OnTimeDay, wr[11])
		c.int("on time (window)", r.OnTimeWindow, wr[12])
		c.float("sd dt", r.SDDT(), wr[13])
		keys[i] = r.RouteKey
		if r.Shipments >= 5 {
			qualifying++
		}
	}
	if len(oracleWindows) > 0 && w.End.Sub(w.Start) > 365*24*time.Hour && qualifying == 0 {
		o.t.Errorf("no qualifying route in a long window: the test data does not exercise on-time rates")
	}

	vehicles, err := rollup.RouteVehicles(context.Background(), o.q, w, keys)
	if err != nil {
		o.t.Fatal(err)
	}
	wantVehicles := pgtest.Rows(o.t, o.q, `SELECT origin, destination, count(DISTINCT vehicle_id) FROM (`+shipmentsIn+`) s
		GROUP BY 1, 2 ORDER BY 1, 2`, w.Start, w.End)
	if len(vehicles) != len(wantVehicles) {
		o.t.Fatalf("route vehicles: %d routes, oracle has %d", len(vehicles), len(wantVehicles))
	}
	for _, wr := range wantVehicles {
		k := rollup.RouteKey{Origin: wr[0].(string), Destination: wr[1].(string)}
		o.cmp(fmt.Sprintf("route %s -> %s", k.Origin, k.Destination)).int("vehicles", vehicles[k], wr[2])
	}
}

func (o oracle) checkVehicles(w rollup.Window) {
	ctx := context.Background()
	got, err := rollup.ReadVehicles(ctx, o.q, w)
	if err != nil {
		o.t.Fatal(err)
	}
	want := pgtest.Rows(o.t, o.q, `
WITH l AS (SELECT vehicle_id, count(*) AS trips, sum(mileage) AS mileage, sum(fuel_used) AS fuel
           FROM vehicle_logs WHERE trip_date BETWEEN $1 AND $2 GROUP BY 1),
s AS (SELECT vehicle_id, count(*) AS n, sum(cost) AS cost, sum(delivery_time) AS dt
      FROM (`+shipmentsIn+`) x GROUP BY 1)
SELECT v.vehicle_id, v.name, v.total_mileage, l.trips, l.mileage, l.fuel,
       coalesce(s.n, 0), coalesce(s.cost, 0), coalesce(s.dt, 0)
FROM vehicles v JOIN l ON l.vehicle_id = v.vehicle_id LEFT JOIN s ON s.vehicle_id = v.vehicle_id
ORDER BY 1`, w.Start, w.End)
	if len(got) != len(want) {
		o.t.Fatalf("vehicles: %d rows, oracle has %d", len(got), len(want))
	}
	for i, v := range got {
		wv := want[i]
		c := o.cmp("vehicle " + v.ID)
		if v.ID != wv[0] || v.Name != wv[1] {
			o.t.Fatalf("vehicle %d is %s %q, oracle has %v %v", i, v.ID, v.Name, wv[0], wv[1])
		}
		c.float("lifetime mileage", v.TotalMileage, wv[2])
		c.int("trips", v.Trips, wv[3])
		c.float("mileage", v.Mileage, wv[4])
		c.float("fuel", v.Fuel, wv[5])
		c.int("shipments", v.Shipments, wv[6])
		c.float("cost", v.SumCost, wv[7])
		c.int("Σdt", v.SumDT, wv[8])
		if i < 5 {
			o.checkVehicleDetail(v.ID, w)
		}
	}
}

func (o oracle) checkVehicleDetail(id string, w rollup.Window) {
	ctx := context.Background()
	days, err := rollup.ReadVehicleDays(ctx, o.q, id, w)
	if err != nil {
		o.t.Fatal(err)
	}
	want := pgtest.Rows(o.t, o.q, `
SELECT l.trip_date, count(*), sum(l.mileage), sum(l.fuel_used),
       coalesce(sum(s.n), 0), coalesce(sum(s.cost), 0), coalesce(sum(s.dt), 0)
FROM vehicle_logs l
LEFT JOIN (SELECT log_id, count(*) AS n, sum(cost) AS cost, sum(delivery_time) AS dt FROM shipments
           WHERE log_id IN (SELECT log_id FROM vehicle_logs WHERE vehicle_id = $3 AND trip_date BETWEEN $1 AND $2)
           GROUP BY 1) s
       ON s.log_id = l.log_id
WHERE l.vehicle_id = $3 AND l.trip_date BETWEEN $1 AND $2
GROUP BY 1 ORDER BY 1`, w.Start, w.End, id)
	if len(days) != len(want) {
		o.t.Fatalf("vehicle %s: %d days, oracle has %d", id, len(days), len(want))
	}
	for i, d := range days {
		wd := want[i]
		c := o.cmp(fmt.Sprintf("vehicle %s on %s", id, d.Day.Format(datagen.DateLayout)))
		if !d.Day.Equal(wd[0].(time.Time)) {
			o.t.Fatalf("vehicle %s day %d is %s, oracle has %v", id, i, d.Day, wd[0])
		}
		c.int("trips", d.Trips, wd[1])
		c.float("mileage", d.Mileage, wd[2])
		c.float("fuel", d.Fuel, wd[3])
		c.int("shipments", d.Shipments, wd[4])
		c.float("cost", d.SumCost, wd[5])
		c.int("Σdt", d.SumDT, wd[6])
	}

	routes, err := rollup.ReadVehicleRoutes(ctx, o.q, id, w)
	if err != nil {
		o.t.Fatal(err)
	}
	slices.SortFunc(routes, func(a, b rollup.VehicleRoute) int {
		return cmp.Or(strings.Compare(a.Origin, b.Origin), strings.Compare(a.Destination, b.Destination))
	})
	wantRoutes := pgtest.Rows(o.t, o.q, `
SELECT origin, destination, count(DISTINCT log_id), count(*), sum(cost), sum(delivery_time)
FROM (`+shipmentsIn+`) s WHERE vehicle_id = $3
GROUP BY 1, 2 ORDER BY 1, 2`, w.Start, w.End, id)
	if len(routes) != len(wantRoutes) {
		o.t.Fatalf("vehicle %s: %d routes, oracle has %d", id, len(routes), len(wantRoutes))
	}
	for i, r := range routes {
		wr := wantRoutes[i]
		if r.Origin != wr[0] || r.Destination != wr[1] {
			o.t.Fatalf("vehicle %s route %d is %v, oracle has %v -> %v", id, i, r.RouteKey, wr[0], wr[1])
		}
		c := o.cmp(fmt.Sprintf("vehicle %s on %s -> %s", id, r.Origin, r.Destination))
		c.int("trips", r.Trips, wr[2])
		c.int("shipments", r.Shipments, wr[3])
		c.float("cost", r.SumCost, wr[4])
		c.int("Σdt", r.SumDT, wr[5])
	}
}

func (o oracle) checkRouteTotals() {
	got, err := rollup.ReadRouteTotals(context.Background(), o.q)
	if err != nil {
		o.t.Fatal(err)
	}
	want := pgtest.Rows(o.t, o.q, `
SELECT s.origin, s.destination, count(*), sum(s.cost), sum(s.weight), sum(s.delivery_time),
       min(s.delivery_time), max(s.delivery_time), count(DISTINCT l.vehicle_id)
FROM shipments s JOIN vehicle_logs l ON l.log_id = s.log_id
GROUP BY 1, 2 ORDER BY 1, 2`)
	if len(got) != len(want) || len(got) == 0 {
		o.t.Fatalf("route totals: %d rows, oracle has %d", len(got), len(want))
	}
	for i, r := range got {
		wr := want[i]
		if r.Origin != wr[0] || r.Destination != wr[1] {
			o.t.Fatalf("route total %d is %v, oracle has %v -> %v", i, r.RouteKey, wr[0], wr[1])
		}
		c := o.cmp(fmt.Sprintf("all-time route %s -> %s", r.Origin, r.Destination))
		c.int("shipments", r.Shipments, wr[2])
		c.float("cost", r.SumCost, wr[3])
		c.float("weight", r.SumWeight, wr[4])
		c.int("Σdt", r.SumDT, wr[5])
		c.int("min dt", r.MinDT, wr[6])
		c.int("max dt", r.MaxDT, wr[7])
		c.int("vehicles", r.UniqueVehicles, wr[8])
	}
}

func (o oracle) checkVehicleInfo() {
	ctx := context.Background()
	want := pgtest.Rows(o.t, o.q, `SELECT vehicle_id, name, total_mileage FROM vehicles ORDER BY 1`)
	for _, wv := range want {
		info, ok, err := rollup.ReadVehicleInfo(ctx, o.q, wv[0].(string))
		if err != nil || !ok {
			o.t.Fatalf("vehicle %v: ok %v, err %v", wv[0], ok, err)
		}
		if info.Name != wv[1] || info.TotalMileage != wv[2] {
			o.t.Errorf("vehicle %v: got %q %v, want %v %v", wv[0], info.Name, info.TotalMileage, wv[1], wv[2])
		}
	}
	if _, ok, err := rollup.ReadVehicleInfo(ctx, o.q, "no-such-vehicle"); ok || err != nil {
		o.t.Errorf("unknown vehicle: ok %v, err %v", ok, err)
	}
}

// comparer reports mismatches of one row's figures.
type comparer struct {
	t    *testing.T
	what string
}

func (o oracle) cmp(what string) comparer { return comparer{t: o.t, what: what} }

func (c comparer) int(field string, got int64, want any) {
	c.t.Helper()
	if w := toInt(c.t, want); got != w {
		c.t.Errorf("%s: %s = %d, oracle %d", c.what, field, got, w)
	}
}

func (c comparer) float(field string, got float64, want any) {
	c.t.Helper()
	w, ok := want.(float64)
	if !ok {
		w = float64(toInt(c.t, want))
	}
	if math.Abs(got-w) > 1e-9*math.Max(1, math.Abs(w)) {
		c.t.Errorf("%s: %s = %v, oracle %v", c.what, field, got, w)
	}
}

func (c comparer) big(field string, got *big.Int, want any) {
	c.t.Helper()
	w, ok := new(big.Int).SetString(want.(string), 10)
	if !ok || got == nil || got.Cmp(w) != 0 {
		c.t.Errorf("%s: %s = %v, oracle %v", c.what, field, got, want)
	}
}

func toInt(t *testing.T, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int16:
		return int64(n)
	case pgtype.Numeric:
		if v, err := n.Int64Value(); err == nil && v.Valid {
			return v.Int64
		}
	}
	t.Fatalf("oracle value %v (%T) is not an integer", v, v)
	return 0
}
