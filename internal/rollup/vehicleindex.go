package rollup

import (
	"context"
	"fmt"
	"time"

	"github.com/haul-dev/haul/internal/db"
)

// VehicleIndex answers ReadVehicles and CountVehicles for any window of one
// data version from memory: each vehicle's day rows, sorted by day, with
// running sums, so a window costs two binary searches per vehicle, whatever
// its length. Built once per version (LoadIndex); read-only after.
type VehicleIndex struct {
	vehicles []VehicleInfo // ordered by id
	// firstEntry[v] .. firstEntry[v+1] are vehicle v's entries, by day.
	firstEntry []int32
	// Per entry: its day (days since 1970-01-01) and the running sums of
	// its vehicle up to and including it.
	day                          []int32
	cumTrips, cumShipments       []int64
	cumDT                        []int64
	cumMileage, cumFuel, cumCost []float64
}

// Entries is the number of (vehicle, day) rows the index holds.
func (x *VehicleIndex) Entries() int { return len(x.day) }

// Bytes is about the memory the index holds.
func (x *VehicleIndex) Bytes() int64 {
	n := int64(len(x.day))*(4+6*8) + int64(len(x.firstEntry))*4
	for _, v := range x.vehicles {
		n += int64(len(v.ID)+len(v.Name)) + 48
	}
	return n
}

// loadVehicleIndex reads every vehicle day row of the version q's snapshot
// sees, in vehicle and day order (agg_vehicles_vehicle_idx).
func loadVehicleIndex(ctx context.Context, q Querier) (*VehicleIndex, error) {
	rows, err := q.Query(ctx, `
SELECT a.vehicle_id, coalesce(i.name, ''), coalesce(i.total_mileage, 0), a.period,
       a.trips, a.mileage, a.fuel, a.shipments, a.sum_cost, a.sum_dt
FROM agg_vehicles a LEFT JOIN agg_vehicle_info i ON i.vehicle_id = a.vehicle_id
WHERE a.grain = $1
ORDER BY a.vehicle_id, a.period`, db.GrainDay)
	if err != nil {
		return nil, fmt.Errorf("read vehicle days: %w", err)
	}
	defer rows.Close()
	x := &VehicleIndex{}
	var (
		info                VehicleInfo
		day                 time.Time
		trips, ships, dt    int64
		mileage, fuel, cost float64
	)
	for rows.Next() {
		if err := rows.Scan(&info.ID, &info.Name, &info.TotalMileage, &day, &trips, &mileage, &fuel, &ships, &cost, &dt); err != nil {
			return nil, fmt.Errorf("read vehicle days: %w", err)
		}
		i := len(x.day)
		if n := len(x.vehicles); n == 0 || x.vehicles[n-1].ID != info.ID {
			x.vehicles = append(x.vehicles, info)
			x.firstEntry = append(x.firstEntry, int32(i))
		} else {
			trips += x.cumTrips[i-1]
			ships += x.cumShipments[i-1]
			dt += x.cumDT[i-1]
			mileage += x.cumMileage[i-1]
			fuel += x.cumFuel[i-1]
			cost += x.cumCost[i-1]
		}
		x.day = append(x.day, epochDay(day))
		x.cumTrips = append(x.cumTrips, trips)
		x.cumShipments = append(x.cumShipments, ships)
		x.cumDT = append(x.cumDT, dt)
		x.cumMileage = append(x.cumMileage, mileage)
		x.cumFuel = append(x.cumFuel, fuel)
		x.cumCost = append(x.cumCost, cost)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read vehicle days: %w", err)
	}
	x.firstEntry = append(x.firstEntry, int32(len(x.day)))
	return x, nil
}

// window returns the sums of vehicle v's entries in [from, to], and false
// when it has none there.
func (x *VehicleIndex) window(v int, from, to int32) (Vehicle, bool) {
	lo, hi := x.firstEntry[v], x.firstEntry[v+1]
	i := lo + int32(searchDays(x.day[lo:hi], from))
	j := lo + int32(searchDays(x.day[lo:hi], to+1))
	if i == j {
		return Vehicle{}, false
	}
	out := Vehicle{VehicleInfo: x.vehicles[v], Trips: x.cumTrips[j-1], Shipments: x.cumShipments[j-1],
		SumDT: x.cumDT[j-1], Mileage: x.cumMileage[j-1], Fuel: x.cumFuel[j-1], SumCost: x.cumCost[j-1]}
	if i > lo {
		out.Trips -= x.cumTrips[i-1]
		out.Shipments -= x.cumShipments[i-1]
		out.SumDT -= x.cumDT[i-1]
		out.Mileage -= x.cumMileage[i-1]
		out.Fuel -= x.cumFuel[i-1]
		out.SumCost -= x.cumCost[i-1]
	}
	return out, true
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
