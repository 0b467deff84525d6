package precalc

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/bits"
	"slices"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/pgcopy"
)

// What the new rows add to the tables of sums (agg_totals, agg_vehicles,
// agg_route_totals) is added up in haul from their groups (newrows.go), as
// the rebuild adds it up (addup.go): a row per key those tables have, in
// key order, written with binary COPY into a temporary table shaped like
// its table (delta_totals, delta_vehicles, delta_route_totals), which one
// upsert adds (delta.go). Before, the groups were written whole (a row per
// day, route and delivery time; per day, vehicle and route; per day and
// vehicle) and grouped again in SQL for each grain.
const createDeltaSumsSQL = `
CREATE TEMP TABLE delta_totals (LIKE agg_totals) ON COMMIT DROP;
CREATE TEMP TABLE delta_vehicles (LIKE agg_vehicles) ON COMMIT DROP;
CREATE TEMP TABLE delta_route_totals (LIKE agg_route_totals) ON COMMIT DROP`

// storedShipDaysSQL selects the days of $1 (days since 2000-01-01) that
// have shipments stored: a new day with shipments adds to ship_days unless
// it is one.
const storedShipDaysSQL = `SELECT period - DATE '2000-01-01' FROM agg_totals
WHERE grain = 0 AND shipments > 0 AND period IN (SELECT DATE '2000-01-01' + d FROM unnest($1::integer[]) d)`

// sumSteps are a refresh's steps for the tables of sums: add, which adds
// up the vehicles' and the routes' rows in the background, while the
// segments are appended (at 10M shipments it took 0.3 s of a refresh of
// 1M more, mostly a hash table of the vehicles' months and years), and
// stage, which writes them and the totals' into the deltas.
type sumSteps struct {
	delta       *deltaRows
	vehicleKeys []vehiclePeriod
	vehicles    []vehicleSums
	routes      []routeTotal
	added       chan struct{}
}

func (s *sumSteps) add(context.Context, pgx.Tx, logr.Logger) error {
	s.added = make(chan struct{})
	go func() {
		defer close(s.added)
		s.vehicleKeys, s.vehicles = s.delta.vehicleRows()
		s.routes = s.delta.routeTotals()
	}()
	return nil
}

// stage writes what the new rows add to the tables of sums into their
// deltas, once add is done.
func (s *sumSteps) stage(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	<-s.added
	d, vehicleKeys, vehicleSums, routeTotals := s.delta, s.vehicleKeys, s.vehicles, s.routes
	days := slices.Sorted(maps.Keys(d.days))
	rows, err := tx.Query(ctx, storedShipDaysSQL, days)
	if err != nil {
		return fmt.Errorf("read stored days: %w", err)
	}
	stored := map[int32]bool{}
	var day int32
	if _, err := pgx.ForEachRow(rows, []any{&day}, func() error {
		stored[day] = true
		return nil
	}); err != nil {
		return fmt.Errorf("read stored days: %w", err)
	}
	if _, err := tx.Exec(ctx, createDeltaSumsSQL); err != nil {
		return fmt.Errorf("create deltas: %w", err)
	}
	totals := d.totalRows(stored)
	for _, w := range []struct {
		table  string
		encode func(*pgcopy.Encoder, func() error) error
	}{
		{"delta_totals", func(e *pgcopy.Encoder, spill func() error) error {
			for i := range totals {
				encodeTotalRow(e, &totals[i])
				if err := spill(); err != nil {
					return err
				}
			}
			return nil
		}},
		{"delta_vehicles", func(e *pgcopy.Encoder, spill func() error) error {
			for i, k := range vehicleKeys {
				encodeVehicleRow(e, k.grain, k.period, d.vehicles.names[k.vehicle], &vehicleSums[i])
				if err := spill(); err != nil {
					return err
				}
			}
			return nil
		}},
		{"delta_route_totals", func(e *pgcopy.Encoder, spill func() error) error {
			for _, route := range d.routeByRank {
				t := &routeTotals[route]
				if t.n == 0 { // a route only old logs carried
					continue
				}
				e.Row(9)
				d.routeNames(e, route)
				encodeRouteTotal(e, t, d.newVehicles[route])
				if err := spill(); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		if _, err := copyRows(ctx, tx.Conn().PgConn(), `COPY `+w.table+` FROM STDIN (FORMAT binary)`, w.encode); err != nil {
			return fmt.Errorf("stage %s: %w", w.table, err)
		}
	}
	log.V(2).Info("new rows added up", "totals", len(totals), "vehicles", len(vehicleKeys), "routes", len(routeTotals))
	return nil
}

// totalRows returns the rows of agg_totals the new rows add to, by grain
// and period: each day they fall on, and those days' months and years.
// stored are the days that had shipments before.
func (d *deltaRows) totalRows(stored map[int32]bool) []totalRow {
	at := make(map[int32]int, len(d.days))
	var rows []totalRow
	of := func(day int32) *totalRow {
		i, ok := at[day]
		if !ok {
			i = len(rows)
			at[day] = i
			rows = append(rows, totalRow{grain: db.GrainDay, period: day})
		}
		return &rows[i]
	}
	for i, k := range d.vd.keys {
		s, t := &d.vd.sums[i], of(k.day)
		t.logs += s.trips
		t.mileage += s.mileage
		t.fuel += s.fuel
		t.carrying += s.carrying
	}
	for i, k := range d.rt.keys {
		s := &d.rt.sums[i]
		of(k.day).addGroup(k.dt, s.n, s.cost, s.weight, s.minCPK, s.maxCPK)
	}
	slices.SortFunc(rows, func(a, b totalRow) int { return cmp.Compare(a.period, b.period) })
	var months, years []totalRow
	for i := range rows {
		t := &rows[i]
		t.vehicleDays = d.firstCarriers[t.period]
		if t.n > 0 && !stored[t.period] {
			t.shipDays = 1
		}
		month := monthOf(t.period)
		if len(months) == 0 || months[len(months)-1].period != monthStart(month) {
			months = append(months, totalRow{grain: db.GrainMonth, period: monthStart(month)})
		}
		months[len(months)-1].add(t)
		if len(years) == 0 || years[len(years)-1].period != yearStart(yearOf(month)) {
			years = append(years, totalRow{grain: db.GrainYear, period: yearStart(yearOf(month))})
		}
		years[len(years)-1].add(t)
	}
	return append(append(rows, months...), years...)
}

// addGroup adds n shipments of delivery time dt, their sums of cost and
// weight, and their bounds of cost per kg.
func (t *totalRow) addGroup(dt int32, n int64, cost, weight, minCPK, maxCPK float64) {
	if t.n == 0 {
		t.minDT, t.maxDT, t.minCPK, t.maxCPK = dt, dt, minCPK, maxCPK
	} else {
		t.minDT, t.maxDT = min(t.minDT, dt), max(t.maxDT, dt)
		t.minCPK, t.maxCPK = min(t.minCPK, minCPK), max(t.maxCPK, maxCPK)
	}
	t.n += n
	t.cost += cost
	t.weight += weight
	t.dt += int64(dt) * n
	hi, lo := bits.Mul64(uint64(dt)*uint64(dt), uint64(n))
	var c uint64
	t.dt2Lo, c = bits.Add64(t.dt2Lo, lo, 0)
	t.dt2Hi += hi + c
}

// vehiclePeriod is a key of agg_vehicles.
type vehiclePeriod struct {
	grain   int16
	period  int32
	vehicle uint32
}

// vehicleRows returns the rows of agg_vehicles the new rows add to, in key
// order: each vehicle's months and years.
func (d *deltaRows) vehicleRows() ([]vehiclePeriod, []vehicleSums) {
	g := newGroup[vehiclePeriod, vehicleSums](len(d.vd.keys))
	for i, k := range d.vd.keys {
		month := monthOf(k.day)
		s, _ := g.of(vehiclePeriod{db.GrainMonth, monthStart(month), k.vehicle})
		s.add(&d.vd.sums[i].vehicleSums)
		s, _ = g.of(vehiclePeriod{db.GrainYear, yearStart(yearOf(month)), k.vehicle})
		s.add(&d.vd.sums[i].vehicleSums)
	}
	order := orderBy(len(g.keys), func(i int32) uint64 { return uint64(g.keys[i].grain)<<32 | signed(g.keys[i].period) },
		func(i int32) uint64 { return uint64(d.vehicleRank[g.keys[i].vehicle]) })
	keys, sums := make([]vehiclePeriod, len(order)), make([]vehicleSums, len(order))
	for i, j := range order {
		keys[i], sums[i] = g.keys[j], g.sums[j]
	}
	return keys, sums
}

// routeTotals returns what the new rows add to each route's all-time
// figures, by the delta's route.
func (d *deltaRows) routeTotals() []routeTotal {
	totals := make([]routeTotal, len(d.routeCities))
	for i, k := range d.rt.keys {
		s := &d.rt.sums[i]
		totals[k.route].add(k.dt, s.n, s.cost, s.weight)
	}
	return totals
}

// add adds n shipments of delivery time dt and their sums of cost and
// weight.
func (t *routeTotal) add(dt int32, n int64, cost, weight float64) {
	if t.n == 0 {
		t.minDT, t.maxDT = dt, dt
	} else {
		t.minDT, t.maxDT = min(t.minDT, dt), max(t.maxDT, dt)
	}
	t.n += n
	t.cost += cost
	t.weight += weight
	t.dt += int64(dt) * n
}
