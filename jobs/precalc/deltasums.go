package precalc

import (
	"cmp"
	"context"
	"encoding/binary"
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
// key order. The totals' are written with binary COPY into a temporary
// table shaped like agg_totals (delta_totals), which one upsert adds
// (delta.go); the vehicles' months and years and the origins' routes they
// touch take them as a segment (sumSegments). Before, the groups were
// written whole (a row per day, route and delivery time; per day, vehicle
// and route; per day and vehicle) and grouped again in SQL for each grain.
// delta_vehicles and delta_route_totals are the keys of the vehicles' and
// the routes' sums, which a merge of segments reads.
const createDeltaSumsSQL = `
CREATE TEMP TABLE delta_totals (LIKE agg_totals) ON COMMIT DROP;
CREATE TEMP TABLE delta_vehicles (grain smallint, period date, vehicle_id text COLLATE "C") ON COMMIT DROP;
CREATE TEMP TABLE delta_route_totals (origin text COLLATE "C", destination text COLLATE "C") ON COMMIT DROP`

// storedShipDaysSQL selects the days of $1 (days since 2000-01-01) that
// have shipments stored: a new day with shipments adds to ship_days unless
// it is one.
const storedShipDaysSQL = `SELECT period - DATE '2000-01-01' FROM agg_totals
WHERE grain = 0 AND shipments > 0 AND period IN (SELECT DATE '2000-01-01' + d FROM unnest($1::integer[]) d)`

// sumSteps are a refresh's steps for the tables of sums: add, which adds
// up the vehicles' and the routes' rows in the background, while the
// segments are appended (at 10M shipments it took 0.3 s of a refresh of
// 1M more, mostly a hash table of the vehicles' months and years), stage,
// which writes the totals' into delta_totals, and addVehiclePeriods and
// addRouteTotals, which append the vehicles' and the routes'.
// merge says whether a merge of segments follows, which needs their keys
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

// stage writes what the new rows add to the totals into delta_totals,
// and the keys of the vehicles' and the routes' sums into theirs if a
// merge follows, once add is done.
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
			if !s.merge {
				return nil
			}
			for _, route := range d.routeByRank {
				if routeTotals[route].n == 0 { // a route only old logs carried
					continue
				}
				e.Row(2)
				d.routeNames(e, route)
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

// vehicleSegments and originSegments are the tables of sums a refresh
// appends its segment to (sumSegments.add).
var (
	vehicleSegments = sumSegments[[2]int32, vehiclePeriodRow, *vehiclePeriodRow]{
		table: "agg_vehicles",
		args: func(rows []vehiclePeriodRow) []any {
			grains, periods := make([]int16, len(rows)), make([]int32, len(rows))
			for i, r := range rows {
				grains[i], periods[i] = r.grain, r.period
			}
			return []any{grains, periods}
		},
		keysSQL:  `unnest($1::smallint[], $2::integer[]) WITH ORDINALITY AS k(g, p, i)`,
		matchSQL: `a.grain = k.g AND a.period = DATE '2000-01-01' + k.p`,
		readSQL: `SELECT grain, period - DATE '2000-01-01', segment, vehicle_ids, trips, mileage, fuel, shipments,
       sum_cost, sum_dt`,
		decode: decodeVehiclePeriodRow,
	}
	originSegments = sumSegments[string, originRow, *originRow]{
		table: "agg_route_totals",
		args: func(rows []originRow) []any {
			origins := make([]string, len(rows))
			for i, r := range rows {
				origins[i] = r.origin
			}
			return []any{origins}
		},
		keysSQL:  `unnest($1::text[]) WITH ORDINALITY AS k(o, i)`,
		matchSQL: `a.origin = k.o`,
		readSQL: `SELECT origin, segment, destinations, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt,
       unique_vehicles`,
		decode: decodeOriginRow,
	}
)

// addVehiclePeriods appends what the new rows add to the vehicles' months
// and years (sumSegments.add).
func (s *sumSteps) addVehiclePeriods(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	<-s.added
	keys, sums, names := s.vehicleKeys, s.vehicles, s.delta.vehicles.names
	var deltas []vehiclePeriodRow
	for i, k := range keys {
		if i == 0 || k.grain != keys[i-1].grain || k.period != keys[i-1].period {
			deltas = append(deltas, vehiclePeriodRow{grain: k.grain, period: k.period})
		}
		r := &deltas[len(deltas)-1]
		r.ids, r.sums = append(r.ids, names[k.vehicle]), append(r.sums, sums[i])
	}
	merged, err := vehicleSegments.add(ctx, tx, deltas)
	if err != nil {
		return fmt.Errorf("add to vehicle periods: %w", err)
	}
	log.V(2).Info("segments appended", "table", "agg_vehicles", "rows", len(deltas), "merged", merged)
	return nil
}

// addRouteTotals appends what the new rows add to the routes' all-time
// figures (sumSegments.add).
func (s *sumSteps) addRouteTotals(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	<-s.added
	d := s.delta
	var deltas []originRow
	err := originRows(d.routeByRank, d.routeCities, d.cities.names, s.routes, d.newVehicles, func(r *originRow) error {
		deltas = append(deltas, *r)
		return nil
	})
	if err != nil {
		return err
	}
	merged, err := originSegments.add(ctx, tx, deltas)
	if err != nil {
		return fmt.Errorf("add to route totals: %w", err)
	}
	log.V(2).Info("segments appended", "table", "agg_route_totals", "rows", len(deltas), "merged", merged)
	return nil
}

// sumRow is a row of a table of sums kept as segments: what the new rows
// add to a key (a month or a year of the vehicles, an origin's routes) is
// a row of the same shape, which adds to the key's other segments.
type sumRow[K comparable, R any] interface {
	*R
	key() K
	// add returns the sum of the two rows, numbered as the receiver.
	add(*R) R
	number() *int64
	encode(*pgcopy.Encoder)
}

// sumSegments is a table of sums whose keys a refresh appends a segment
// to, as the array tables take theirs (segments.go), and merges a key's
// appended segments (numbered above 0) in haul once there are more than
// maxSegments. args turns rows into the arguments of keysSQL, which lists
// their keys with their ordinal i; matchSQL matches a row a of the table
// with a key k; readSQL selects the columns decode decodes. Rewritten
// whole instead (a month's row of every vehicle, an origin's of every
// destination), the 39 vehicle rows and 300 origin rows a refresh of 100k
// shipments spread over every day touches at 10M took 0.25-0.4 s of it.
type sumSegments[K comparable, R any, P sumRow[K, R]] struct {
	table             string
	args              func([]R) []any
	keysSQL, matchSQL string
	readSQL           string
	decode            func([][]byte) (R, error)
}

// add appends deltas, a row per key, as the refresh's segment (segmentSQL),
// and merges the appended segments of the keys that would have more than
// maxSegments into one, numbered as the first of them. It returns how many
// keys it merged.
func (t sumSegments[K, R, P]) add(ctx context.Context, tx pgx.Tx, deltas []R) (int, error) {
	var segment int64
	if err := tx.QueryRow(ctx, segmentSQL).Scan(&segment); err != nil {
		return 0, fmt.Errorf("read segment: %w", err)
	}
	full, err := t.full(ctx, tx, deltas)
	if err != nil {
		return 0, err
	}
	stored := map[K]*R{}
	if len(full) > 0 {
		if stored, err = t.take(ctx, tx, full); err != nil {
			return 0, err
		}
	}
	_, err = copyRows(ctx, tx.Conn().PgConn(), `COPY `+ident(t.table)+` FROM STDIN (FORMAT binary)`,
		func(e *pgcopy.Encoder, spill func() error) error {
			for i := range deltas {
				row := P(&deltas[i])
				*row.number() = segment
				if old, ok := stored[row.key()]; ok {
					sum := P(old).add(&deltas[i])
					row = &sum
				}
				row.encode(e)
				if err := spill(); err != nil {
					return err
				}
			}
			return nil
		})
	return len(stored), err
}

// full returns the deltas whose keys have maxSegments appended segments.
func (t sumSegments[K, R, P]) full(ctx context.Context, tx pgx.Tx, deltas []R) ([]R, error) {
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT i FROM %s
WHERE (SELECT count(*) FROM %s a WHERE %s AND a.segment > 0) >= %d`, t.keysSQL, ident(t.table), t.matchSQL, maxSegments),
		t.args(deltas)...)
	if err != nil {
		return nil, fmt.Errorf("count segments: %w", err)
	}
	var full []R
	var i int64
	if _, err := pgx.ForEachRow(rows, []any{&i}, func() error {
		full = append(full, deltas[i-1])
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count segments: %w", err)
	}
	return full, nil
}

// take deletes the appended segments of the keys of rows and returns them
// added up by key.
func (t sumSegments[K, R, P]) take(ctx context.Context, tx pgx.Tx, rows []R) (map[K]*R, error) {
	taken, err := tx.Query(ctx, fmt.Sprintf(`WITH d AS (DELETE FROM %s a USING %s WHERE %s AND a.segment > 0 RETURNING a.*)
%s FROM d`, ident(t.table), t.keysSQL, t.matchSQL, t.readSQL), t.args(rows)...)
	if err != nil {
		return nil, fmt.Errorf("take segments: %w", err)
	}
	defer taken.Close()
	stored := map[K]*R{}
	for taken.Next() {
		r, err := t.decode(taken.RawValues())
		if err != nil {
			return nil, fmt.Errorf("take segments: %w", err)
		}
		p := P(&r)
		old, ok := stored[p.key()]
		if !ok {
			stored[p.key()] = &r
			continue
		}
		first := min(*P(old).number(), *p.number())
		sum := P(old).add(&r)
		*P(&sum).number() = first
		stored[p.key()] = &sum
	}
	if err := taken.Err(); err != nil {
		return nil, fmt.Errorf("take segments: %w", err)
	}
	return stored, nil
}

func (r *vehiclePeriodRow) key() [2]int32  { return [2]int32{int32(r.grain), r.period} }
func (r *vehiclePeriodRow) number() *int64 { return &r.segment }

// add returns the row with o's vehicles (of the same month or year, in
// name order) added: a vehicle's sums to its entry, or put in name order
// (by byte) if it has none.
func (r *vehiclePeriodRow) add(o *vehiclePeriodRow) vehiclePeriodRow {
	out := vehiclePeriodRow{grain: r.grain, period: r.period, segment: r.segment,
		ids: make([]string, 0, len(r.ids)+len(o.ids)), sums: make([]vehicleSums, 0, len(r.ids)+len(o.ids))}
	mergeByName(r.ids, o.ids, func(i, j int) {
		switch {
		case j < 0:
			out.ids, out.sums = append(out.ids, r.ids[i]), append(out.sums, r.sums[i])
		case i < 0:
			out.ids, out.sums = append(out.ids, o.ids[j]), append(out.sums, o.sums[j])
		default:
			sum := r.sums[i]
			sum.add(&o.sums[j])
			out.ids, out.sums = append(out.ids, r.ids[i]), append(out.sums, sum)
		}
	})
	return out
}

// decodeVehiclePeriodRow decodes a row of vehicleSegments.readSQL.
func decodeVehiclePeriodRow(v [][]byte) (vehiclePeriodRow, error) {
	if len(v) != 10 || len(v[0]) != 2 || len(v[1]) != 4 || len(v[2]) != 8 {
		return vehiclePeriodRow{}, pgcopy.ErrArrayEncoding
	}
	r := vehiclePeriodRow{grain: int16(binary.BigEndian.Uint16(v[0])), period: be32(v[1]),
		segment: int64(binary.BigEndian.Uint64(v[2]))}
	var err error
	r.ids, err = textElements(v[3])
	n := len(r.ids)
	r.sums = make([]vehicleSums, n)
	for _, a := range []struct {
		col int
		set func(s *vehicleSums, e []byte)
	}{
		{4, func(s *vehicleSums, e []byte) { s.trips = int64(binary.BigEndian.Uint64(e)) }},
		{5, func(s *vehicleSums, e []byte) { s.mileage = beF64(e) }},
		{6, func(s *vehicleSums, e []byte) { s.fuel = beF64(e) }},
		{7, func(s *vehicleSums, e []byte) { s.n = int64(binary.BigEndian.Uint64(e)) }},
		{8, func(s *vehicleSums, e []byte) { s.cost = beF64(e) }},
		{9, func(s *vehicleSums, e []byte) { s.dt = int64(binary.BigEndian.Uint64(e)) }},
	} {
		err = cmp.Or(err, pgcopy.FixedArray(v[a.col], n, 8, func(i int, e []byte) { a.set(&r.sums[i], e) }))
	}
	return r, err
}

func (r *originRow) key() string    { return r.origin }
func (r *originRow) number() *int64 { return &r.segment }

// decodeOriginRow decodes a row of originSegments.readSQL.
func decodeOriginRow(v [][]byte) (originRow, error) {
	if len(v) != 10 || len(v[1]) != 8 {
		return originRow{}, pgcopy.ErrArrayEncoding
	}
	r := originRow{origin: string(v[0]), segment: int64(binary.BigEndian.Uint64(v[1]))}
	var err error
	r.destinations, err = textElements(v[2])
	n := len(r.destinations)
	r.totals, r.vehicles = make([]routeTotal, n), make([]int64, n)
	for _, a := range []struct {
		col, size int
		set       func(t *routeTotal, e []byte)
	}{
		{3, 8, func(t *routeTotal, e []byte) { t.n = int64(binary.BigEndian.Uint64(e)) }},
		{4, 8, func(t *routeTotal, e []byte) { t.cost = beF64(e) }},
		{5, 8, func(t *routeTotal, e []byte) { t.weight = beF64(e) }},
		{6, 8, func(t *routeTotal, e []byte) { t.dt = int64(binary.BigEndian.Uint64(e)) }},
		{7, 4, func(t *routeTotal, e []byte) { t.minDT = be32(e) }},
		{8, 4, func(t *routeTotal, e []byte) { t.maxDT = be32(e) }},
	} {
		err = cmp.Or(err, pgcopy.FixedArray(v[a.col], n, a.size, func(i int, e []byte) { a.set(&r.totals[i], e) }))
	}
	err = cmp.Or(err, pgcopy.FixedArray(v[9], n, 8, func(i int, e []byte) { r.vehicles[i] = int64(binary.BigEndian.Uint64(e)) }))
	return r, err
}

// textElements returns the elements of a binary text array.
func textElements(b []byte) ([]string, error) {
	elems, err := pgcopy.TextArray(b, -1, nil)
	out := make([]string, len(elems))
	for i, e := range elems {
		out[i] = string(e)
	}
	return out, err
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
