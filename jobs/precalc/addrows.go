package precalc

// The rows the builder (addup.go) writes: a day's route rows and the
// merge of a month's into the year's, and the vehicle-route rows, spilled by
// ranges of routes and written sorted at the end.

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/pgcopy"
)

// mergeMonthRoutes adds the month's route rows to the year's: sorted, the
// two merge in one pass, where adding each day row to a table of the
// year's rows cost a cache miss or more per row.
func (b *builder) mergeMonthRoutes() {
	// Sorted through their keys: moving the rows themselves cost more.
	keys := b.monthKeys[:0]
	for i := range b.monthRoutes {
		keys = append(keys, [2]uint64{b.monthRoutes[i].order, uint64(i)})
	}
	slices.SortFunc(keys, func(x, y [2]uint64) int { return cmp.Compare(x[0], y[0]) })
	b.monthKeys = keys
	out := b.merged[:0]
	add := func(r *routeYear) {
		if n := len(out); n > 0 && out[n-1].order == r.order {
			s := &out[n-1].sums
			s.n += r.sums.n
			s.cost += r.sums.cost
			s.weight += r.sums.weight
			s.cpk += r.sums.cpk
			s.cpt += r.sums.cpt
			s.onTime += r.sums.onTime
			return
		}
		out = append(out, *r)
	}
	i, j := 0, 0
	for i < len(b.yearRoutes) || j < len(keys) {
		if j == len(keys) || (i < len(b.yearRoutes) && b.yearRoutes[i].order <= keys[j][0]) {
			add(&b.yearRoutes[i])
			i++
		} else {
			add(&b.monthRoutes[keys[j][1]])
			j++
		}
	}
	b.merged, b.yearRoutes = b.yearRoutes, out
	b.monthRoutes = b.monthRoutes[:0]
}

// routeRows writes the day's route rows and adds them to the year's rows
// and the route totals.
func (b *builder) routeRows(day int32) error {
	// In the order of agg_routes_period_idx (day, origin), so that
	// building it is mostly a check of the order.
	b.routeDayOrder = b.routeDayOrder[:0]
	for i := range b.routeDayKeys {
		b.routeDayOrder = append(b.routeDayOrder, int32(i))
	}
	slices.SortFunc(b.routeDayOrder, func(x, y int32) int {
		kx, ky := b.routeDayKeys[x], b.routeDayKeys[y]
		return cmp.Or(cmp.Compare(b.routeRank[kx.route], b.routeRank[ky.route]), cmp.Compare(kx.dt, ky.dt))
	})
	for _, i := range b.routeDayOrder {
		k, rs := b.routeDayKeys[i], &b.routeDayRows[i]
		// dt <= Σdt/n of the same (day, route), compared exactly as in
		// delta.go's merged_routes.
		if dr := b.dayRoutes.sums[k.route]; int64(k.dt)*dr[0] <= dr[1] {
			rs.onTime = rs.n
		}
		b.routeRow(&b.out.routes.enc, db.GrainDay, day, k, rs)
		if err := b.out.routes.spill(); err != nil {
			return err
		}

		// Delivery times are positive: as unsigned they keep their order.
		order := uint64(b.routeRank[k.route])<<32 | uint64(uint32(k.dt))
		b.monthRoutes = append(b.monthRoutes, routeYear{order: order, key: k, sums: *rs})

		t := &b.routeTotals[k.route]
		if t.n == 0 {
			t.minDT, t.maxDT = k.dt, k.dt
		} else {
			t.minDT, t.maxDT = min(t.minDT, k.dt), max(t.maxDT, k.dt)
		}
		t.n += rs.n
		t.cost += rs.cost
		t.weight += rs.weight
		t.dt += int64(k.dt) * rs.n
	}
	return nil
}

func (b *builder) routeRow(e *pgcopy.Encoder, grain int16, period int32, k routeDTKey, s *routeSums) {
	e.Row(11)
	e.Int2(grain)
	e.Int4(period)
	b.routeNames(e, k.route)
	e.Int4(k.dt)
	e.Int8(s.n)
	e.Float8(s.cost)
	e.Float8(s.weight)
	e.Float8(s.cpk)
	e.Float8(s.cpt)
	e.Int8(s.onTime)
}

// routeNames encodes a route's origin and destination.
func (b *builder) routeNames(e *pgcopy.Encoder, route uint32) {
	c := b.r.routeCities[route]
	e.String(b.r.cities.names[c[0]])
	e.String(b.r.cities.names[c[1]])
}

// vehicleRouteBuckets is how many ranges of routes the vehicle route rows
// are spilled by: each range is sorted in memory in turn, a 128th of the
// rows.
const vehicleRouteBuckets = 128

// A spilled vehicle route row: route rank, vehicle rank, day, trips,
// shipments, Σ cost, Σ delivery time.
const vehicleRouteRecord = 4 + 4 + 4 + 8 + 8 + 8 + 8

// vehicleRouteRows spills the day's vehicle route rows. They are written
// at the end in the order of the table's route index (origin, destination,
// vehicle_id), which makes building it a check of the order (a third of
// the cost of sorting them, the rebuild's costliest index), and counting
// each route's distinct vehicles a pass over them.
func (b *builder) vehicleRouteRows(day int32) error {
	routes := uint64(len(b.routeRank))
	for i, k := range b.vRouteKeys {
		s := &b.vRouteRows[i]
		rank := b.routeRank[k.route]
		part := int32(uint64(rank) * vehicleRouteBuckets / routes)
		r := b.vehicleRoutes.buffer(part)
		r = binary.LittleEndian.AppendUint32(r, rank)
		r = binary.LittleEndian.AppendUint32(r, b.vehicleRank[k.vehicle])
		r = binary.LittleEndian.AppendUint32(r, uint32(day))
		r = binary.LittleEndian.AppendUint64(r, uint64(s.trips))
		r = binary.LittleEndian.AppendUint64(r, uint64(s.n))
		r = binary.LittleEndian.AppendUint64(r, math.Float64bits(s.cost))
		r = binary.LittleEndian.AppendUint64(r, uint64(s.dt))
		if err := b.vehicleRoutes.put(part, r); err != nil {
			return err
		}
	}
	return nil
}

// writeVehicleRoutes writes the spilled vehicle route rows in route, then
// vehicle, then day order, and counts each route's distinct vehicles.
func (b *builder) writeVehicleRoutes() ([]int64, error) {
	vehicles := make([]int64, len(b.routeRank))
	e := &b.out.vehicleRoutes
	type sortKey struct {
		routeVehicle uint64
		day          int32
		at           int32
	}
	var keys []sortKey
	for _, part := range b.vehicleRoutes.partitions() {
		data, err := b.vehicleRoutes.read(part)
		if err != nil {
			return nil, fmt.Errorf("read spilled vehicle routes: %w", err)
		}
		keys = keys[:0]
		for p := 0; p+vehicleRouteRecord <= len(data); p += vehicleRouteRecord {
			keys = append(keys, sortKey{uint64(le32(data[p:]))<<32 | uint64(le32(data[p+4:])), leI32(data[p+8:]), int32(p)})
		}
		slices.SortFunc(keys, func(x, y sortKey) int {
			return cmp.Or(cmp.Compare(x.routeVehicle, y.routeVehicle), cmp.Compare(x.day, y.day))
		})
		for i, k := range keys {
			r := data[k.at:]
			route, vehicle := b.routeByRank[k.routeVehicle>>32], b.vehicleByRank[uint32(k.routeVehicle)]
			if i == 0 || keys[i-1].routeVehicle != k.routeVehicle {
				vehicles[route]++
			}
			e.enc.Row(8)
			e.enc.String(b.r.vehicles.names[vehicle])
			e.enc.Int4(k.day)
			b.routeNames(&e.enc, route)
			e.enc.Int8(int64(binary.LittleEndian.Uint64(r[12:])))
			e.enc.Int8(int64(binary.LittleEndian.Uint64(r[20:])))
			e.enc.Float8(math.Float64frombits(binary.LittleEndian.Uint64(r[28:])))
			e.enc.Int8(int64(binary.LittleEndian.Uint64(r[36:])))
			if err := e.spill(); err != nil {
				return nil, err
			}
		}
	}
	return vehicles, e.finish()
}

func (b *builder) vehicleRow(grain int16, period int32, vehicle uint32, s *vehicleSums) error {
	e := &b.out.vehicles
	e.enc.Row(9)
	e.enc.Int2(grain)
	e.enc.Int4(period)
	e.enc.String(b.r.vehicles.names[vehicle])
	e.enc.Int8(s.trips)
	e.enc.Float8(s.mileage)
	e.enc.Float8(s.fuel)
	e.enc.Int8(s.n)
	e.enc.Float8(s.cost)
	e.enc.Int8(s.dt)
	return e.spill()
}
