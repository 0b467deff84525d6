package rollup

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// VehicleIndex answers ReadVehicles and CountVehicles for any window of one
// data version from memory: each vehicle's days, sorted by day, with
// running sums, so a window costs two binary searches per vehicle, whatever
// its length. Built once per version (LoadIndex); read-only after.
type VehicleIndex struct {
	vehicles []VehicleInfo // ordered by id
	// firstEntry[v] .. firstEntry[v+1] are vehicle v's entries, by day.
	firstEntry []int32
	// Per entry: its day and the running sums of its vehicle up to and
	// including it.
	day                 dayColumn
	trips               countPairs // trips and shipments
	dt                  intSums
	mileage, fuel, cost floatSums
}

// Entries is the number of (vehicle, day) entries the index holds.
func (x *VehicleIndex) Entries() int { return int(x.firstEntry[len(x.firstEntry)-1]) }

// Bytes is about the memory the index holds.
func (x *VehicleIndex) Bytes() int64 {
	n := x.day.bytes() + x.trips.bytes() + x.dt.bytes() + x.mileage.bytes() +
		x.fuel.bytes() + x.cost.bytes() + int64(len(x.firstEntry))*4
	for _, v := range x.vehicles {
		n += int64(len(v.ID)+len(v.Name)) + 48
	}
	return n
}

// The vehicle index is read in vehicle and day order from agg_vehicle_days'
// key, after a count of their entries and the bounds of their days, so that
// its columns are made once: at their final size, unless a refresh appended
// a day that another row holds too. The rebuild's rows hold a month each,
// the refreshes' segments a year from its first month's row on: a
// vehicle's year is merged when it has any.
const (
	vehicleDaysCountSQL = `SELECT coalesce(sum(cardinality(days)), 0), coalesce(min(days[1]), '2000-01-01'),
       coalesce(max(days[cardinality(days)]), '2000-01-01')
FROM agg_vehicle_days`
	vehicleDaysSQL = `
SELECT a.vehicle_id, coalesce(i.name, ''), coalesce(i.total_mileage, 0), a.period, a.segment,
       a.days, a.trips, a.mileage, a.fuel, a.shipments, a.sum_cost, a.sum_dt
FROM agg_vehicle_days a LEFT JOIN agg_vehicle_info i ON i.vehicle_id = a.vehicle_id
ORDER BY a.vehicle_id, a.period, a.segment`
)

// loadVehicleIndex reads every vehicle day of the version q's snapshot
// sees.
func loadVehicleIndex(ctx context.Context, q Querier) (*VehicleIndex, error) {
	var (
		count  int64
		lo, hi time.Time
	)
	if err := q.QueryRow(ctx, vehicleDaysCountSQL).Scan(&count, &lo, &hi); err != nil {
		return nil, fmt.Errorf("count vehicle days: %w", err)
	}
	n := int(count)
	x := &VehicleIndex{
		day: newDayColumn(n, epochDay(lo), epochDay(hi)), trips: newCountPairs(n),
		dt: newIntSums(n), mileage: newFloatSums(n, false), fuel: newFloatSums(n, false), cost: newFloatSums(n, false),
	}
	rows, err := q.Query(ctx, vehicleDaysSQL)
	if err != nil {
		return nil, fmt.Errorf("read vehicle days: %w", err)
	}
	defer rows.Close()
	var (
		i        int
		vehicle  []byte // the vehicle and year of the entries in e
		year     int
		appended bool // whether e holds a refresh's segment
		e        vehicleDayEntries
		perm     []int
	)
	// add sets the entries of the vehicle's year read so far.
	add := func() error {
		if appended {
			e.merge(&perm)
		}
		if i+len(e.days) > n {
			return errors.New("read vehicle days: more entries than counted")
		}
		for k, day := range e.days {
			x.day.set(i, day+pgEpochDay)
			x.trips.set(i, e.trips[k], e.shipments[k])
			x.dt.set(i, e.dt[k])
			// A day's mileage and fuel add up its trips, its cost the
			// shipments they carried.
			x.mileage.set(i, e.mileage[k], e.trips[k])
			x.fuel.set(i, e.fuel[k], e.trips[k])
			x.cost.set(i, e.cost[k], e.shipments[k])
			i++
		}
		e.reset()
		appended = false
		return nil
	}
	for rows.Next() {
		// Raw values, as the route days: a row allocates nothing.
		v := rows.RawValues()
		if len(v) != 12 || len(v[2]) != 8 || len(v[3]) != 4 || len(v[4]) != 8 {
			return nil, errors.New("read vehicle days: unexpected row encoding")
		}
		y := time.Unix(int64(integer(v[3])+pgEpochDay)*86400, 0).UTC().Year()
		if string(v[0]) != string(vehicle) || y != year {
			if err := add(); err != nil {
				return nil, err
			}
			vehicle, year = append(vehicle[:0], v[0]...), y
		}
		appended = appended || bigint(v[4]) > 0
		if k := len(x.vehicles); k == 0 || x.vehicles[k-1].ID != string(v[0]) {
			x.vehicles = append(x.vehicles, VehicleInfo{ID: string(v[0]), Name: string(v[1]), TotalMileage: float8(v[2])})
			x.firstEntry = append(x.firstEntry, int32(i))
		}
		if err := e.decode(v[5:]); err != nil {
			return nil, fmt.Errorf("read vehicle days: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read vehicle days: %w", err)
	}
	if err := add(); err != nil {
		return nil, err
	}
	x.firstEntry = append(x.firstEntry, int32(i))
	x.trips.cumulate(x.firstEntry)
	x.dt.cumulate(x.firstEntry)
	for _, c := range []*floatSums{&x.mileage, &x.fuel, &x.cost} {
		c.cumulate(x.firstEntry)
	}
	return x, nil
}

// window returns the sums of vehicle v's entries in [from, to], and false
// when it has none there.
func (x *VehicleIndex) window(v int, from, to int32) (Vehicle, bool) {
	lo, hi := x.firstEntry[v], x.firstEntry[v+1]
	i, j := x.day.window(lo, hi, from, to)
	if i == j {
		return Vehicle{}, false
	}
	trips, ships := x.trips.sum(lo, i, j)
	return Vehicle{VehicleInfo: x.vehicles[v], Trips: trips, Shipments: ships,
		SumDT: x.dt.sum(lo, i, j), Mileage: x.mileage.sum(lo, i, j), Fuel: x.fuel.sum(lo, i, j),
		SumCost: x.cost.sum(lo, i, j)}, true
}

// Vehicles returns what ReadVehicles returns for w: every vehicle with a
// log in the window, ordered by id.
func (x *VehicleIndex) Vehicles(w Window) []Vehicle {
	from, to := epochDay(w.Start), epochDay(w.End)
	var out []Vehicle
	for v := range x.vehicles {
		if s, ok := x.window(v, from, to); ok && s.Trips > 0 {
			out = append(out, s)
		}
	}
	return out
}

// CountVehicles returns what CountVehicles reads for w: the vehicles that
// carried a shipment in the window.
func (x *VehicleIndex) CountVehicles(w Window) int64 {
	from, to := epochDay(w.Start), epochDay(w.End)
	var n int64
	for v := range x.vehicles {
		if s, ok := x.window(v, from, to); ok && s.Shipments > 0 {
			n++
		}
	}
	return n
}

// Index is every in-memory index of one data version.
type Index struct {
	version  int64
	Routes   *RouteIndex
	Vehicles *VehicleIndex
}

// Version is the data version the index was built from.
func (x *Index) Version() int64 { return x.version }

// Bytes is about the memory the index holds.
func (x *Index) Bytes() int64 { return x.Routes.Bytes() + x.Vehicles.Bytes() }

// LoadIndex builds the indexes of the version q's snapshot sees (q is a
// Begin transaction).
func LoadIndex(ctx context.Context, q Querier) (*Index, error) {
	routes, err := LoadRouteIndex(ctx, q)
	if err != nil {
		return nil, err
	}
	vehicles, err := loadVehicleIndex(ctx, q)
	if err != nil {
		return nil, err
	}
	return &Index{version: routes.Version(), Routes: routes, Vehicles: vehicles}, nil
}
