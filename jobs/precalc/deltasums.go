package precalc

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/pgcopy"
)

// What the new rows add to the tables of sums (agg_totals, agg_vehicles,
// agg_route_totals) is added up in haul from their groups (newrows.go), as
// the rebuild adds it up (addup.go): a row per key those tables have, in
// key order. The totals' and the route totals' are written with binary
// COPY into a temporary table shaped like their table (delta_totals,
// delta_route_totals), which one upsert adds (delta.go); a vehicles' month
// or year row is read, added to and written back whole (vehicleSteps).
// Before, the groups were written whole (a row per day, route and delivery
// time; per day, vehicle and route; per day and vehicle) and grouped again
// in SQL for each grain. delta_vehicles are the keys of the vehicles'
// sums, which a merge of segments reads.
const createDeltaSumsSQL = `
CREATE TEMP TABLE delta_totals (LIKE agg_totals) ON COMMIT DROP;
CREATE TEMP TABLE delta_vehicles (grain smallint, period date, vehicle_id text COLLATE "C") ON COMMIT DROP;
CREATE TEMP TABLE delta_route_totals (LIKE agg_route_totals) ON COMMIT DROP`

// storedShipDaysSQL selects the days of $1 (days since 2000-01-01) that
// have shipments stored: a new day with shipments adds to ship_days unless
// it is one.
const storedShipDaysSQL = `SELECT period - DATE '2000-01-01' FROM agg_totals
WHERE grain = 0 AND shipments > 0 AND period IN (SELECT DATE '2000-01-01' + d FROM unnest($1::integer[]) d)`

// sumSteps are a refresh's steps for the tables of sums: add, which adds
// up the vehicles' and the routes' rows in the background, while the
// segments are appended (at 10M shipments it took 0.3 s of a refresh of
// 1M more, mostly a hash table of the vehicles' months and years), stage,
// which writes the totals' and the routes' into the deltas, and
// addVehiclePeriods, which adds the vehicles' to their rows. merge says
// whether a merge of segments follows, which needs the vehicles' keys
// staged.
type sumSteps struct {
	delta       *deltaRows
	merge       bool
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
	d, vehicleKeys, routeTotals := s.delta, s.vehicleKeys, s.routes
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
			if !s.merge {
				return nil
			}
			for _, k := range vehicleKeys {
				e.Row(3)
				e.Int2(k.grain)
				e.Int4(k.period)
				e.String(d.vehicles.names[k.vehicle])
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

// The vehicles' month and year rows the new rows add to, and their
// replacement.
const (
	readVehiclePeriodsSQL = `SELECT grain, period - DATE '2000-01-01', vehicle_ids, trips, mileage, fuel, shipments, sum_cost, sum_dt
FROM agg_vehicles WHERE (grain, period) IN (SELECT g, DATE '2000-01-01' + p FROM unnest($1::smallint[], $2::integer[]) AS k(g, p))`
	deleteVehiclePeriodsSQL = `DELETE FROM agg_vehicles
WHERE (grain, period) IN (SELECT g, DATE '2000-01-01' + p FROM unnest($1::smallint[], $2::integer[]) AS k(g, p))`
)

// addVehiclePeriods adds what the new rows add to the vehicles' month and
// year rows: each row they touch is read, the vehicles' sums added to its
// entries (new vehicles put in name order), and written back whole. The
// figures are stored + new, as an upsert adds them.
func (s *sumSteps) addVehiclePeriods(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	<-s.added
	keys, sums := s.vehicleKeys, s.vehicles
	var grains []int16
	var periods []int32
	for i, k := range keys {
		if i == 0 || k.grain != keys[i-1].grain || k.period != keys[i-1].period {
			grains, periods = append(grains, k.grain), append(periods, k.period)
		}
	}
	rows, err := tx.Query(ctx, readVehiclePeriodsSQL, grains, periods)
	if err != nil {
		return fmt.Errorf("read vehicle periods: %w", err)
	}
	stored := map[[2]int32]*vehiclePeriodRow{}
	for rows.Next() {
		r, err := decodeVehiclePeriodRow(rows.RawValues())
		if err != nil {
			rows.Close()
			return fmt.Errorf("read vehicle periods: %w", err)
		}
		stored[[2]int32{int32(r.grain), r.period}] = r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read vehicle periods: %w", err)
	}
	if _, err := tx.Exec(ctx, deleteVehiclePeriodsSQL, grains, periods); err != nil {
		return fmt.Errorf("replace vehicle periods: %w", err)
	}
	names := s.delta.vehicles.names
	_, err = copyRows(ctx, tx.Conn().PgConn(), `COPY agg_vehicles FROM STDIN (FORMAT binary)`,
		func(e *pgcopy.Encoder, spill func() error) error {
			for lo := 0; lo < len(keys); {
				hi := lo + 1
				for hi < len(keys) && keys[hi].grain == keys[lo].grain && keys[hi].period == keys[lo].period {
					hi++
				}
				old := stored[[2]int32{int32(keys[lo].grain), keys[lo].period}]
				if old == nil {
					old = &vehiclePeriodRow{grain: keys[lo].grain, period: keys[lo].period}
				}
				row := old.add(keys[lo:hi], sums[lo:hi], names)
				row.encode(e)
				if err := spill(); err != nil {
					return err
				}
				lo = hi
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("replace vehicle periods: %w", err)
	}
	log.V(2).Info("vehicle periods replaced", "rows", len(grains), "stored", len(stored))
	return nil
}

// decodeVehiclePeriodRow decodes a row of readVehiclePeriodsSQL.
func decodeVehiclePeriodRow(v [][]byte) (*vehiclePeriodRow, error) {
	if len(v) != 9 || len(v[0]) != 2 || len(v[1]) != 4 {
		return nil, pgcopy.ErrArrayEncoding
	}
	r := &vehiclePeriodRow{grain: int16(binary.BigEndian.Uint16(v[0])), period: be32(v[1])}
	ids, err := pgcopy.TextArray(v[2], -1, nil)
	if err != nil {
		return nil, err
	}
	n := len(ids)
	r.ids, r.sums = make([]string, n), make([]vehicleSums, n)
	for i, id := range ids {
		r.ids[i] = string(id)
	}
	for col, set := range []func(s *vehicleSums, x uint64){
		func(s *vehicleSums, x uint64) { s.trips = int64(x) },
		func(s *vehicleSums, x uint64) { s.mileage = math.Float64frombits(x) },
		func(s *vehicleSums, x uint64) { s.fuel = math.Float64frombits(x) },
		func(s *vehicleSums, x uint64) { s.n = int64(x) },
		func(s *vehicleSums, x uint64) { s.cost = math.Float64frombits(x) },
		func(s *vehicleSums, x uint64) { s.dt = int64(x) },
	} {
		count, body, err := pgcopy.ArrayBody(v[3+col])
		if err != nil || count != n || len(body) != n*12 {
			return nil, pgcopy.ErrArrayEncoding
		}
		for i := range n {
			if binary.BigEndian.Uint32(body[i*12:]) != 8 {
				return nil, pgcopy.ErrArrayEncoding
			}
			set(&r.sums[i], binary.BigEndian.Uint64(body[i*12+4:]))
		}
	}
	return r, nil
}

// add returns the row with each vehicle's sums of keys and sums (the
// row's month or year, in name order) added to its entry, or put in name
// order if it has none.
func (r *vehiclePeriodRow) add(keys []vehiclePeriod, sums []vehicleSums, names []string) vehiclePeriodRow {
	out := vehiclePeriodRow{grain: r.grain, period: r.period,
		ids: make([]string, 0, len(r.ids)+len(keys)), sums: make([]vehicleSums, 0, len(r.ids)+len(keys))}
	i, j := 0, 0
	for i < len(r.ids) || j < len(keys) {
		c := 1
		switch {
		case j == len(keys):
			c = -1
		case i < len(r.ids):
			c = strings.Compare(r.ids[i], names[keys[j].vehicle])
		}
		switch {
		case c < 0:
			out.ids, out.sums = append(out.ids, r.ids[i]), append(out.sums, r.sums[i])
			i++
		case c > 0:
			out.ids, out.sums = append(out.ids, names[keys[j].vehicle]), append(out.sums, sums[j])
			j++
		default:
			s := r.sums[i]
			s.add(&sums[j])
			out.ids, out.sums = append(out.ids, r.ids[i]), append(out.sums, s)
			i, j = i+1, j+1
		}
	}
	return out
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
