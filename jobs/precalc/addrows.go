package precalc

// The rows the builder (addup.go) writes: a day's row of route entries,
// the vehicle-route records, spilled by ranges of routes and of vehicles
// and written as arrays, and at the end the totals and route totals.

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// routeRows writes the day's row of agg_routes, its route entries in
// route, then delivery time order, and adds them to the route totals.
func (b *builder) routeRows(day int32) error {
	// By route rank, then delivery time (its sign bit flipped, so that the
	// unsigned order is int32's). Sorted by comparison, this took 3.1 s of a
	// rebuild's 22 s of CPU at 10M shipments, all in the one goroutine
	// that adds the days up.
	b.routeDayOrder, b.routeDayRank = b.routeDayOrder[:0], b.routeDayRank[:0]
	for i, k := range b.routeDayKeys {
		b.routeDayOrder = append(b.routeDayOrder, int32(i))
		b.routeDayRank = append(b.routeDayRank, uint64(b.routeRank[k.route])<<32|uint64(uint32(k.dt)^1<<31))
	}
	b.sorter.ByKey(b.routeDayRank, b.routeDayOrder)
	for _, i := range b.routeDayOrder {
		k, rs := b.routeDayKeys[i], &b.routeDayRows[i]
		b.routeTotals[k.route].add(k.dt, rs.n, rs.cost, rs.weight)
	}
	e := &b.out.routes
	var segment int64
	for order := b.routeDayOrder; len(order) > 0; order = order[min(len(order), maxEntries):] {
		row := order[:min(len(order), maxEntries)]
		e.enc.Row(10)
		e.enc.Int4(day)
		e.enc.Int8(segment)
		segment--
		for _, city := range []int{0, 1} {
			e.enc.Array(pgcopy.OIDText, len(row), func(i int) {
				c := b.r.routeCities[b.routeDayKeys[row[i]].route]
				e.enc.String(b.r.cities.names[c[city]])
			})
		}
		e.enc.Array(pgcopy.OIDInt4, len(row), func(i int) { e.enc.Int4(b.routeDayKeys[row[i]].dt) })
		e.enc.Array(pgcopy.OIDInt4, len(row), func(i int) { e.enc.Int4(int32(b.routeDayRows[row[i]].n)) })
		for _, sum := range []func(*routeSums) float64{
			func(s *routeSums) float64 { return s.cost },
			func(s *routeSums) float64 { return s.weight },
			func(s *routeSums) float64 { return s.cpk },
			func(s *routeSums) float64 { return s.cpt },
		} {
			e.enc.Array(pgcopy.OIDFloat8, len(row), func(i int) { e.enc.Float8(sum(&b.routeDayRows[row[i]])) })
		}
		if err := e.spill(); err != nil {
			return err
		}
	}
	return nil
}

// routeNames encodes a route's origin and destination.
func (b *builder) routeNames(e *pgcopy.Encoder, route uint32) {
	c := b.r.routeCities[route]
	e.String(b.r.cities.names[c[0]])
	e.String(b.r.cities.names[c[1]])
}

// vehicleRouteBuckets is how many ranges of routes, and of vehicles, the
// vehicle route records are spilled by: each range is ordered in memory in
// turn, a 128th of the records (of a year's, for vehicles).
const vehicleRouteBuckets = 128

// Spilled vehicle route records. By route: route rank, vehicle rank, day.
// By vehicle: vehicle rank, day, route rank, trips, shipments, Σ cost,
// Σ delivery time.
const (
	routeVehicleRecord = 4 + 4 + 4
	vehicleRouteRecord = 4 + 4 + 4 + 4 + 4 + 8 + 8
)

// maxEntries bounds a row's arrays: a vehicle's year, or a route, with
// more days than that takes several rows, the next ones with segments -1,
// -2 and so on, far from PostgreSQL's 1 GB limit on a field.
const maxEntries = 1 << 16

// vehicleRouteRows spills the day's vehicle route rows twice: by route
// for agg_route_vehicles, written at the end (writeRouteVehicles), and by
// year and vehicle for agg_vehicle_routes, written as each year ends
// (writeVehicleRoutes).
func (b *builder) vehicleRouteRows(day int32) error {
	routes, vehicles := uint64(len(b.routeRank)), uint64(len(b.vehicleRank))
	b.vehicleRouteRecords += len(b.vRouteKeys)
	for i, k := range b.vRouteKeys {
		s := &b.vRouteRows[i]
		route, vehicle := b.routeRank[k.route], b.vehicleRank[k.vehicle]
		part := int32(uint64(route) * vehicleRouteBuckets / routes)
		r := b.routeVehicles.buffer(part)
		r = binary.LittleEndian.AppendUint32(r, route)
		r = binary.LittleEndian.AppendUint32(r, vehicle)
		r = binary.LittleEndian.AppendUint32(r, uint32(day))
		if err := b.routeVehicles.put(part, r); err != nil {
			return err
		}
		part = int32(uint64(vehicle) * vehicleRouteBuckets / vehicles)
		r = b.vehicleRoutes.buffer(part)
		r = binary.LittleEndian.AppendUint32(r, vehicle)
		r = binary.LittleEndian.AppendUint32(r, uint32(day))
		r = binary.LittleEndian.AppendUint32(r, route)
		r = binary.LittleEndian.AppendUint32(r, uint32(s.trips))
		r = binary.LittleEndian.AppendUint32(r, uint32(s.n))
		r = binary.LittleEndian.AppendUint64(r, math.Float64bits(s.cost))
		r = binary.LittleEndian.AppendUint64(r, uint64(s.dt))
		if err := b.vehicleRoutes.put(part, r); err != nil {
			return err
		}
	}
	return nil
}

// byRank calls each with the records of every partition of s in turn, a
// call per rank (a record's first field) in rank order, the rank's
// records as they were spilled (by day), at most maxEntries of them a
// call: the rank's further calls are its next segments, -1, -2 and so on.
// The records are put in rank order by a counting sort, as a partition
// holds a narrow range of ranks.
func byRank(s *spill, size int, each func(rank uint32, segment int64, data []byte, at []int32) error) error {
	var at []int32
	var count []int32
	for _, part := range s.partitions() {
		data, err := s.read(part)
		if err != nil {
			return fmt.Errorf("read spilled %s: %w", s.name, err)
		}
		n := len(data) / size
		if n == 0 {
			continue
		}
		lo, hi := uint32(math.MaxUint32), uint32(0)
		for p := 0; p < n*size; p += size {
			r := le32(data[p:])
			lo, hi = min(lo, r), max(hi, r)
		}
		count = append(count[:0], make([]int32, hi-lo+2)...)
		for p := 0; p < n*size; p += size {
			count[le32(data[p:])-lo+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		at = slices.Grow(at[:0], n)[:n]
		for p := 0; p < n*size; p += size {
			r := le32(data[p:]) - lo
			at[count[r]] = int32(p)
			count[r]++
		}
		for rest := at; len(rest) > 0; {
			rank := le32(data[rest[0]:])
			n := 1
			for n < len(rest) && le32(data[rest[n]:]) == rank {
				n++
			}
			for segment, run := int64(0), rest[:n]; len(run) > 0; segment-- {
				c := min(len(run), maxEntries)
				if err := each(rank, segment, data, run[:c]); err != nil {
					return err
				}
				run = run[c:]
			}
			rest = rest[n:]
		}
	}
	return nil
}

// writeRouteVehicles writes a row of agg_route_vehicles per route, its
// days and vehicles in day order, counts each route's distinct vehicles,
// and keeps them in b.routeVehicleSets.
func (b *builder) writeRouteVehicles() ([]int64, error) {
	vehicles := make([]int64, len(b.routeRank))
	// seen[v] is 1 + the rank of the last route vehicle v was counted for.
	seen := make([]uint32, len(b.vehicleRank))
	byRoute := make([][]uint32, len(b.routeRank)) // by route rank: vehicle ranks
	e := &b.out.routeVehicles
	err := byRank(b.routeVehicles, routeVehicleRecord, func(rank uint32, segment int64, data []byte, at []int32) error {
		route := b.routeByRank[rank]
		e.enc.Row(5)
		b.routeNames(&e.enc, route)
		e.enc.Int8(segment)
		e.enc.Array(pgcopy.OIDDate, len(at), func(i int) { e.enc.Int4(leI32(data[at[i]+8:])) })
		e.enc.Array(pgcopy.OIDText, len(at), func(i int) {
			vehicle := le32(data[at[i]+4:])
			if seen[vehicle] != rank+1 {
				seen[vehicle] = rank + 1
				vehicles[route]++
				byRoute[rank] = append(byRoute[rank], vehicle)
			}
			e.enc.String(b.r.vehicles.names[b.vehicleByRank[vehicle]])
		})
		return e.spill()
	})
	if err != nil {
		return nil, err
	}
	b.routeVehicleSets = b.routeVehicleSetsOfRanks(byRoute)
	return vehicles, e.finish()
}

// writeVehicleRoutes writes a row of agg_vehicle_routes per vehicle for
// the year that ends, its days and routes in day order, from the year's
// spilled records, which it forgets.
func (b *builder) writeVehicleRoutes(year int32) error {
	e := &b.out.vehicleRoutes
	period := yearStart(year)
	return byRank(b.vehicleRoutes, vehicleRouteRecord, func(vehicle uint32, segment int64, data []byte, at []int32) error {
		n := len(at)
		e.enc.Row(10)
		e.enc.String(b.r.vehicles.names[b.vehicleByRank[vehicle]])
		e.enc.Int4(period)
		e.enc.Int8(segment)
		e.enc.Array(pgcopy.OIDDate, n, func(i int) { e.enc.Int4(leI32(data[at[i]+4:])) })
		for _, city := range []int{0, 1} {
			e.enc.Array(pgcopy.OIDText, n, func(i int) {
				c := b.r.routeCities[b.routeByRank[le32(data[at[i]+8:])]]
				e.enc.String(b.r.cities.names[c[city]])
			})
		}
		for _, off := range []int32{12, 16} { // trips, shipments
			e.enc.Array(pgcopy.OIDInt4, n, func(i int) { e.enc.Int4(leI32(data[at[i]+off:])) })
		}
		e.enc.Array(pgcopy.OIDFloat8, n, func(i int) {
			e.enc.Float8(math.Float64frombits(binary.LittleEndian.Uint64(data[at[i]+20:])))
		})
		e.enc.Array(pgcopy.OIDInt8, n, func(i int) {
			e.enc.Int8(int64(binary.LittleEndian.Uint64(data[at[i]+28:])))
		})
		return e.spill()
	})
}

// writeVehicleDays writes a row of agg_vehicle_days per vehicle with a day
// in the month that starts at period, in name order, notes the days with
// shipments in b.shipDays, and forgets the month's days.
func (b *builder) writeVehicleDays(period int32) error {
	e := &b.out.vehicleDays
	slices.SortFunc(b.vehicleMonths.touched, func(x, y uint32) int {
		return cmp.Compare(b.vehicleRank[x], b.vehicleRank[y])
	})
	for _, v := range b.vehicleMonths.touched {
		days := b.monthDays[v]
		n := len(days)
		for _, d := range days {
			if d.n > 0 {
				b.shipDays.add(b.r.vehicles.names[v], d.day)
			}
		}
		e.enc.Row(10)
		e.enc.String(b.r.vehicles.names[v])
		e.enc.Int4(period)
		e.enc.Int8(0)
		e.enc.Array(pgcopy.OIDDate, n, func(i int) { e.enc.Int4(days[i].day) })
		e.enc.Array(pgcopy.OIDInt4, n, func(i int) { e.enc.Int4(int32(days[i].trips)) })
		e.enc.Array(pgcopy.OIDFloat8, n, func(i int) { e.enc.Float8(days[i].mileage) })
		e.enc.Array(pgcopy.OIDFloat8, n, func(i int) { e.enc.Float8(days[i].fuel) })
		e.enc.Array(pgcopy.OIDInt4, n, func(i int) { e.enc.Int4(int32(days[i].n)) })
		e.enc.Array(pgcopy.OIDFloat8, n, func(i int) { e.enc.Float8(days[i].cost) })
		e.enc.Array(pgcopy.OIDInt8, n, func(i int) { e.enc.Int8(days[i].dt) })
		b.monthDays[v] = days[:0]
		if err := e.spill(); err != nil {
			return err
		}
	}
	return nil
}

// vehiclePeriodRow is a row of agg_vehicles: a month's or a year's
// figures of each vehicle with a log or a shipment in it (in the rebuild's
// segment, 0) or that a refresh's new rows touch (in its segment), in name
// order.
type vehiclePeriodRow struct {
	grain   int16
	period  int32
	segment int64
	ids     []string
	sums    []vehicleSums
}

func (r *vehiclePeriodRow) encode(e *pgcopy.Encoder) {
	n := len(r.ids)
	e.Row(10)
	e.Int2(r.grain)
	e.Int4(r.period)
	e.Int8(r.segment)
	e.Array(pgcopy.OIDText, n, func(i int) { e.String(r.ids[i]) })
	e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(r.sums[i].trips) })
	e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(r.sums[i].mileage) })
	e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(r.sums[i].fuel) })
	e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(r.sums[i].n) })
	e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(r.sums[i].cost) })
	e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(r.sums[i].dt) })
}

// writeVehiclePeriod encodes the row of agg_vehicles of a month or a year
// from the vehicles' sums in d. The rows are few (39 at 10M shipments over
// three years) and sent at the end, after agg_vehicle_days, which loads on
// the same connection.
func (b *builder) writeVehiclePeriod(grain int16, period int32, d *dense[vehicleSums]) {
	slices.SortFunc(d.touched, func(x, y uint32) int { return cmp.Compare(b.vehicleRank[x], b.vehicleRank[y]) })
	row := vehiclePeriodRow{grain: grain, period: period, ids: make([]string, len(d.touched)),
		sums: make([]vehicleSums, len(d.touched))}
	for i, v := range d.touched {
		row.ids[i], row.sums[i] = b.r.vehicles.names[v], d.sums[v]
	}
	row.encode(&b.out.vehicles.enc)
}

// encodeTotalRow encodes a row of agg_totals (and of a refresh's
// delta_totals).
func encodeTotalRow(e *pgcopy.Encoder, t *totalRow) {
	e.Row(17)
	e.Int2(t.grain)
	e.Int4(t.period)
	e.Int8(t.logs)
	e.Float8(t.mileage)
	e.Float8(t.fuel)
	e.Float8(t.carrying)
	e.Int8(t.n)
	e.Float8(t.cost)
	e.Float8(t.weight)
	e.Int8(t.dt)
	dt2 := new(big.Int).SetUint64(t.dt2Hi)
	dt2.Lsh(dt2, 64).Or(dt2, new(big.Int).SetUint64(t.dt2Lo))
	e.Numeric(dt2)
	if t.n > 0 {
		e.Int4(t.minDT)
		e.Int4(t.maxDT)
		e.Float8(t.minCPK)
		e.Float8(t.maxCPK)
	} else {
		e.Null()
		e.Null()
		e.Null()
		e.Null()
	}
	e.Int4(int32(t.shipDays))
	e.Int8(t.vehicleDays)
}

// originRow is a row of agg_route_totals: the all-time figures of each
// route from one origin, by destination, and its distinct vehicles (in the
// rebuild's segment, 0), or what a refresh's new rows add to them (in its
// segment).
type originRow struct {
	origin       string
	segment      int64
	destinations []string
	totals       []routeTotal
	vehicles     []int64
}

func (r *originRow) push(destination string, t *routeTotal, vehicles int64) {
	r.destinations = append(r.destinations, destination)
	r.totals = append(r.totals, *t)
	r.vehicles = append(r.vehicles, vehicles)
}

func (r *originRow) encode(e *pgcopy.Encoder) {
	n := len(r.destinations)
	e.Row(10)
	e.String(r.origin)
	e.Int8(r.segment)
	e.Array(pgcopy.OIDText, n, func(i int) { e.String(r.destinations[i]) })
	e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(r.totals[i].n) })
	e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(r.totals[i].cost) })
	e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(r.totals[i].weight) })
	e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(r.totals[i].dt) })
	e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(r.totals[i].minDT) })
	e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(r.totals[i].maxDT) })
	e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(r.vehicles[i]) })
}

// add returns the row with o's routes (of the same origin, by
// destination) added: a route's figures to its entry, or put in
// destination order (by byte) if it has none.
func (r *originRow) add(o *originRow) originRow {
	out := originRow{origin: r.origin, segment: r.segment}
	mergeByName(r.destinations, o.destinations, func(i, j int) {
		switch {
		case j < 0:
			out.push(r.destinations[i], &r.totals[i], r.vehicles[i])
		case i < 0:
			out.push(o.destinations[j], &o.totals[j], o.vehicles[j])
		default:
			t, u := r.totals[i], &o.totals[j]
			t.n, t.cost, t.weight, t.dt = t.n+u.n, t.cost+u.cost, t.weight+u.weight, t.dt+u.dt
			t.minDT, t.maxDT = min(t.minDT, u.minDT), max(t.maxDT, u.maxDT)
			out.push(r.destinations[i], &t, r.vehicles[i]+o.vehicles[j])
		}
	})
	return out
}

// mergeByName walks two lists of names in byte order together, calling
// each with the place of every name in a and in b, -1 where a list lacks
// it.
func mergeByName(a, b []string, each func(i, j int)) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			each(i, -1)
			i++
		case i == len(a) || b[j] < a[i]:
			each(-1, j)
			j++
		default:
			each(i, j)
			i, j = i+1, j+1
		}
	}
}

// originRows calls each with the rows of agg_route_totals of the routes
// byRank lists in name order (origin, then destination), skipping those
// without shipments: a route's cities are cities, its figures totals and
// its distinct vehicles vehicles.
func originRows(byRank []uint32, cities [][2]uint32, names []string, totals []routeTotal, vehicles []int64,
	each func(*originRow) error) error {
	var row originRow
	for _, route := range byRank {
		t := &totals[route]
		if t.n == 0 { // a route only old logs carried, in a refresh
			continue
		}
		c := cities[route]
		if len(row.destinations) > 0 && names[c[0]] != row.origin {
			if err := each(&row); err != nil {
				return err
			}
			row = originRow{}
		}
		row.origin = names[c[0]]
		row.push(names[c[1]], t, vehicles[route])
	}
	if len(row.destinations) == 0 {
		return nil
	}
	return each(&row)
}

// finish writes the last year's rows, the totals and the route totals, and
// ends every table's stream: each lane loads its tables in turn, so a
// table is ended before the next one of its lane is written.
func (b *builder) finish() error {
	for _, o := range []*tableOut{&b.out.routes, &b.out.vehicleDays} {
		if err := o.finish(); err != nil {
			return err
		}
	}
	// The last year's vehicle routes are written, and loaded, while the
	// route vehicles are: they share nothing but the names, and load on
	// two lanes. One after the other, the route vehicles waited for the
	// vehicle routes' load: 5.6 s after the last month at 10M shipments,
	// one CPU idle.
	var g errgroup.Group
	g.Go(func() error {
		if b.inYear {
			if err := b.endYear(); err != nil {
				return err
			}
		}
		return b.out.vehicleRoutes.finish()
	})
	vehicles, err := b.writeRouteVehicles()
	if err := cmp.Or(err, g.Wait()); err != nil {
		return err
	}
	for _, o := range []*tableOut{&b.out.originVehicles, &b.out.vehicles, &b.out.vehicleInfo} {
		if err := o.finish(); err != nil {
			return err
		}
	}
	e := &b.out.totals
	for i := range b.totals {
		encodeTotalRow(&e.enc, &b.totals[i])
		if err := e.spill(); err != nil {
			return err
		}
	}
	if err := e.finish(); err != nil {
		return err
	}

	e = &b.out.routeTotals
	err = originRows(b.routeByRank, b.r.routeCities, b.r.cities.names, b.routeTotals, vehicles, func(r *originRow) error {
		r.encode(&e.enc)
		return e.spill()
	})
	if err != nil {
		return err
	}
	return e.finish()
}
