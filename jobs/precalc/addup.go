package precalc

import (
	"cmp"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/radixsort"
)

// The sums each rollup keeps; see the tables in the migrations.
type (
	routeSums struct {
		n                      int64
		cost, weight, cpk, cpt float64
	}
	vehicleSums struct {
		trips, n            int64
		mileage, fuel, cost float64
		dt                  int64
	}
	// vehicleDay is a vehicle's sums of one day (days since 2000-01-01).
	vehicleDay struct {
		day int32
		vehicleSums
	}
	vehicleRouteSums struct {
		trips, n int64
		cost     float64
		dt       int64
		log      int32 // the first log; others are counted in extraLogs
	}
	routeTotal struct {
		n            int64
		cost, weight float64
		dt           int64
		minDT, maxDT int32
	}
	totalRow struct {
		grain                   int16
		period                  int32
		logs                    int64
		mileage, fuel, carrying float64
		n                       int64
		cost, weight            float64
		dt                      int64
		dt2Hi, dt2Lo            uint64 // Σ delivery_time², 128 bits
		minDT, maxDT            int32
		minCPK, maxCPK          float64
		shipDays, vehicleDays   int64
	}
)

func (s *vehicleSums) add(o *vehicleSums) {
	s.trips += o.trips
	s.n += o.n
	s.mileage += o.mileage
	s.fuel += o.fuel
	s.cost += o.cost
	s.dt += o.dt
}

func (t *totalRow) add(o *totalRow) {
	t.logs += o.logs
	t.mileage += o.mileage
	t.fuel += o.fuel
	t.carrying += o.carrying
	if o.n > 0 {
		if t.n == 0 {
			t.minDT, t.maxDT, t.minCPK, t.maxCPK = o.minDT, o.maxDT, o.minCPK, o.maxCPK
		} else {
			t.minDT, t.maxDT = min(t.minDT, o.minDT), max(t.maxDT, o.maxDT)
			t.minCPK, t.maxCPK = min(t.minCPK, o.minCPK), max(t.maxCPK, o.maxCPK)
		}
	}
	t.n += o.n
	t.cost += o.cost
	t.weight += o.weight
	t.dt += o.dt
	var c uint64
	t.dt2Lo, c = bits.Add64(t.dt2Lo, o.dt2Lo, 0)
	t.dt2Hi += o.dt2Hi + c
	t.shipDays += o.shipDays
	t.vehicleDays += o.vehicleDays
}

// dense holds a T per vehicle or route for the current period (a day, a
// month, a year): an entry left from an earlier period is zeroed when
// first used, and the entries used are listed in touched.
type dense[T any] struct {
	sums    []T
	gen     []uint32
	cur     uint32
	touched []uint32
}

func newDense[T any](n int) dense[T] {
	return dense[T]{sums: make([]T, n), gen: make([]uint32, n), cur: 1}
}

// next starts a new period.
func (d *dense[T]) next() {
	d.cur++
	d.touched = d.touched[:0]
}

func (d *dense[T]) at(i uint32) *T {
	if d.gen[i] != d.cur {
		d.gen[i] = d.cur
		var zero T
		d.sums[i] = zero
		d.touched = append(d.touched, i)
	}
	return &d.sums[i]
}

type (
	routeDTKey struct {
		route uint32
		dt    int32
	}
	vehicleRouteKey struct {
		vehicle uint32
		route   uint32
	}
	// dayLog is one of a day's logs.
	dayLog struct {
		mileage float64
		carried bool
	}
)

// builder adds up the rollups a day at a time, in calendar order, and
// encodes their rows into out's streams. A day's groups are few, so its
// hash tables stay in the CPU's caches; the month and year rows add up in
// tables indexed by vehicle or route.
type builder struct {
	r   *rawReader
	out *tables

	year   int32
	inYear bool
	// a route's place when routes are sorted by origin and destination,
	// and the route in each place
	routeRank, routeByRank []uint32
	vehicleMonths          dense[vehicleSums]
	// each vehicle's days of the month, in day order
	monthDays    [][]vehicleDay
	vehicleYears dense[vehicleSums]
	monthTotal   totalRow
	yearTotal    totalRow

	routeTotals []routeTotal // by route
	// vehicle route records, by ranges of routes, and of the year's
	// vehicles, in name order (see vehicleRouteRows)
	routeVehicles, vehicleRoutes *spill
	vehicleRouteRecords          int
	// routeVehicleSets are each route's vehicles, and shipDays the
	// days each vehicle carried a shipment on, written with the version
	// (state.go)
	routeVehicleSets *routeVehicleSets
	shipDays         shipDays
	// a vehicle's place in name order, and the vehicle in each place
	vehicleRank, vehicleByRank []uint32
	totals                     []totalRow
	days                       int

	// a day's tables, kept from day to day to reuse their memory
	logIDs       map[string]int32
	logs         []dayLog
	routeDays    map[routeDTKey]int
	routeDayRows []routeSums
	routeDayKeys []routeDTKey
	// routeDayOrder lists the day's route rows by route (routeRows), after
	// a radix sort of their keys, routeDayRank.
	routeDayOrder []int32
	routeDayRank  []uint64
	sorter        radixsort.Sorter
	vRoutes       map[vehicleRouteKey]int
	vRouteRows    []vehicleRouteSums
	vRouteKeys    []vehicleRouteKey
	extraLogs     map[[2]int32]struct{}
	vehicleDays   dense[vehicleSums]

	sortedLogs, sortedShipments []byte
}

// ranks sorts n items with compare, and gives the place of each item and
// the item in each place. Names sort bytewise, as in the C collation: rows
// written in that order make index builds cheap (under another collation
// they only cost what they would unsorted).
func ranks(n int, compare func(a, b uint32) int) (rank, byRank []uint32) {
	byRank = make([]uint32, n)
	for i := range byRank {
		byRank[i] = uint32(i)
	}
	slices.SortFunc(byRank, compare)
	rank = make([]uint32, n)
	for i, item := range byRank {
		rank[item] = uint32(i)
	}
	return rank, byRank
}

func newBuilder(r *rawReader, out *tables, dir string) *builder {
	routes, vehicles := len(r.routeCities), len(r.vehicles.names)
	routeRank, routeByRank := ranks(routes, func(a, b uint32) int {
		ca, cb := r.routeCities[a], r.routeCities[b]
		return cmp.Or(cmp.Compare(r.cities.names[ca[0]], r.cities.names[cb[0]]),
			cmp.Compare(r.cities.names[ca[1]], r.cities.names[cb[1]]))
	})
	vehicleRank, vehicleByRank := ranks(vehicles, func(a, b uint32) int {
		return cmp.Compare(r.vehicles.names[a], r.vehicles.names[b])
	})
	return &builder{
		r: r, out: out, routeRank: routeRank, routeByRank: routeByRank,
		routeVehicles: newSpill(dir, "route-vehicles"), vehicleRoutes: newSpill(dir, "vehicle-routes"),
		vehicleRank: vehicleRank, vehicleByRank: vehicleByRank,
		vehicleMonths: newDense[vehicleSums](vehicles), monthDays: make([][]vehicleDay, vehicles),
		vehicleYears: newDense[vehicleSums](vehicles),
		routeTotals:  make([]routeTotal, routes),
		logIDs:       map[string]int32{}, routeDays: map[routeDTKey]int{},
		vRoutes: map[vehicleRouteKey]int{}, extraLogs: map[[2]int32]struct{}{},
		vehicleDays: newDense[vehicleSums](vehicles),
		shipDays:    shipDays{},
	}
}

// Spilled records' sizes: a fixed part, then the id's length and the id.
const (
	logFixed      = 24
	shipmentFixed = 32
)

// byDay reorders a month's records so that each day's are together:
// day start+d's are sorted[at[d]:at[d+1]].
func byDay(recs []byte, fixed int, start int32, sorted []byte) ([]byte, [33]int) {
	var at [33]int
	for p := 0; p < len(recs); {
		size := fixed + 2 + le16(recs[p+fixed:])
		at[leI32(recs[p:])-start+2] += size
		p += size
	}
	for d := 2; d < len(at); d++ {
		at[d] += at[d-1]
	}
	sorted = slices.Grow(sorted[:0], len(recs))[:len(recs)]
	for p := 0; p < len(recs); {
		size := fixed + 2 + le16(recs[p+fixed:])
		d := leI32(recs[p:]) - start + 1
		copy(sorted[at[d]:], recs[p:p+size])
		at[d] += size
		p += size
	}
	return sorted, at
}

// month adds up month m from its spilled logs and shipments.
func (b *builder) month(m int32, logs, shipments []byte) error {
	if y := yearOf(m); !b.inYear || y != b.year {
		if b.inYear {
			if err := b.endYear(); err != nil {
				return err
			}
		}
		b.year, b.inYear = y, true
		b.vehicleYears.next()
	}
	start := monthStart(m)
	b.vehicleMonths.next()
	b.monthTotal = totalRow{grain: db.GrainMonth, period: start}
	var logsAt, shipmentsAt [33]int
	b.sortedLogs, logsAt = byDay(logs, logFixed, start, b.sortedLogs)
	b.sortedShipments, shipmentsAt = byDay(shipments, shipmentFixed, start, b.sortedShipments)
	for d := range 31 {
		l, s := b.sortedLogs[logsAt[d]:logsAt[d+1]], b.sortedShipments[shipmentsAt[d]:shipmentsAt[d+1]]
		if len(l) == 0 && len(s) == 0 {
			continue
		}
		if err := b.day(start+int32(d), l, s); err != nil {
			return err
		}
	}
	if err := b.writeVehicleDays(start); err != nil {
		return err
	}
	for _, v := range b.vehicleMonths.touched {
		b.vehicleYears.at(v).add(&b.vehicleMonths.sums[v])
	}
	b.writeVehiclePeriod(db.GrainMonth, start, &b.vehicleMonths)
	b.totals = append(b.totals, b.monthTotal)
	b.yearTotal.add(&b.monthTotal)
	return nil
}

// day adds up one day's logs and shipments and writes its rows.
func (b *builder) day(day int32, logs, shipments []byte) error {
	t := totalRow{grain: db.GrainDay, period: day}
	clear(b.logIDs)
	b.logs = b.logs[:0]
	b.vehicleDays.next()
	for p := 0; p < len(logs); {
		rec := logs[p:]
		vehicle := b.r.logVehicle[le32(rec[4:])]
		mileage, fuel := beF64(rec[8:]), beF64(rec[16:])
		id, n := idAt(rec[logFixed:])
		p += logFixed + n
		// The key points into the month's records, which outlive the day.
		b.logIDs[unsafe.String(unsafe.SliceData(id), len(id))] = int32(len(b.logs))
		b.logs = append(b.logs, dayLog{mileage: mileage})
		v := b.vehicleDays.at(vehicle)
		v.trips++
		v.mileage += mileage
		v.fuel += fuel
		t.logs++
		t.mileage += mileage
		t.fuel += fuel
	}

	clear(b.routeDays)
	b.routeDayRows, b.routeDayKeys = b.routeDayRows[:0], b.routeDayKeys[:0]
	clear(b.vRoutes)
	b.vRouteRows, b.vRouteKeys = b.vRouteRows[:0], b.vRouteKeys[:0]
	clear(b.extraLogs)
	for p := 0; p < len(shipments); {
		rec := shipments[p:]
		vehicle, route := le32(rec[4:]), le32(rec[8:])
		dt := be32(rec[12:])
		cost, weight := beF64(rec[16:]), beF64(rec[24:])
		logID, n := idAt(rec[shipmentFixed:])
		p += shipmentFixed + n
		log, ok := b.logIDs[string(logID)]
		if !ok {
			// A log missing from vehicle_logs carries no mileage but is
			// still a trip, as in the SQL.
			log = int32(len(b.logs))
			b.logIDs[unsafe.String(unsafe.SliceData(logID), len(logID))] = log
			b.logs = append(b.logs, dayLog{})
		}
		b.logs[log].carried = true

		rk := routeDTKey{route, dt}
		i, ok := b.routeDays[rk]
		if !ok {
			i = len(b.routeDayRows)
			b.routeDays[rk] = i
			b.routeDayRows = append(b.routeDayRows, routeSums{})
			b.routeDayKeys = append(b.routeDayKeys, rk)
		}
		cpk := cost / weight
		rs := &b.routeDayRows[i]
		rs.n++
		rs.cost += cost
		rs.weight += weight
		rs.cpk += cpk
		rs.cpt += cost / float64(dt)

		vk := vehicleRouteKey{vehicle, route}
		j, ok := b.vRoutes[vk]
		if !ok {
			j = len(b.vRouteRows)
			b.vRoutes[vk] = j
			b.vRouteRows = append(b.vRouteRows, vehicleRouteSums{log: log, trips: 1})
			b.vRouteKeys = append(b.vRouteKeys, vk)
		}
		vr := &b.vRouteRows[j]
		vr.n++
		vr.cost += cost
		vr.dt += int64(dt)
		if vr.log != log {
			if _, seen := b.extraLogs[[2]int32{int32(j), log}]; !seen {
				b.extraLogs[[2]int32{int32(j), log}] = struct{}{}
				vr.trips++
			}
		}

		v := b.vehicleDays.at(vehicle)
		v.n++
		v.cost += cost
		v.dt += int64(dt)

		if t.n == 0 {
			t.minDT, t.maxDT, t.minCPK, t.maxCPK = dt, dt, cpk, cpk
		} else {
			t.minDT, t.maxDT = min(t.minDT, dt), max(t.maxDT, dt)
			t.minCPK, t.maxCPK = min(t.minCPK, cpk), max(t.maxCPK, cpk)
		}
		t.n++
		t.cost += cost
		t.weight += weight
		t.dt += int64(dt)
		var c uint64
		t.dt2Lo, c = bits.Add64(t.dt2Lo, uint64(dt)*uint64(dt), 0)
		t.dt2Hi += c
	}

	for _, l := range b.logs {
		if l.carried {
			t.carrying += l.mileage
		}
	}
	if err := b.routeRows(day); err != nil {
		return err
	}
	if err := b.vehicleRouteRows(day); err != nil {
		return err
	}
	for _, v := range b.vehicleDays.touched {
		s := &b.vehicleDays.sums[v]
		b.monthDays[v] = append(b.monthDays[v], vehicleDay{day, *s})
		if s.n > 0 {
			t.vehicleDays++
		}
		b.vehicleMonths.at(v).add(s)
	}
	if t.n > 0 {
		t.shipDays = 1
	}
	b.totals = append(b.totals, t)
	b.days++
	b.monthTotal.add(&t)
	return nil
}

// endYear writes the year's vehicle route, vehicle and total rows.
func (b *builder) endYear() error {
	start := yearStart(b.year)
	if err := b.writeVehicleRoutes(b.year); err != nil {
		return err
	}
	b.writeVehiclePeriod(db.GrainYear, start, &b.vehicleYears)
	b.yearTotal.grain, b.yearTotal.period = db.GrainYear, start
	b.totals = append(b.totals, b.yearTotal)
	b.yearTotal = totalRow{}
	return nil
}
