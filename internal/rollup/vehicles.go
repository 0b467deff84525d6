package rollup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
)

// VehicleInfo is a vehicle as of the served version.
type VehicleInfo struct {
	ID, Name     string
	TotalMileage float64
}

// Vehicle is a vehicle's figures over a window: its logs and the shipments
// they carried.
type Vehicle struct {
	VehicleInfo
	Trips     int64
	Mileage   float64
	Fuel      float64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicles returns every vehicle with a log in the window, ordered by id.
func ReadVehicles(ctx context.Context, q Querier, w Window) ([]Vehicle, error) {
	g, f, t := w.spanArgs()
	rows, err := q.Query(ctx, `
SELECT a.vehicle_id, coalesce(i.name, ''), coalesce(i.total_mileage, 0), sum(a.trips)::bigint,
       sum(a.mileage), sum(a.fuel), sum(a.shipments)::bigint, sum(a.sum_cost), sum(a.sum_dt)::bigint
FROM agg_vehicles a `+spansJoin("a")+`
LEFT JOIN agg_vehicle_info i ON i.vehicle_id = a.vehicle_id
GROUP BY 1, 2, 3
HAVING sum(a.trips) > 0
ORDER BY 1`, g, f, t)
	if err != nil {
		return nil, fmt.Errorf("read vehicles: %w", err)
	}
	return collect(rows, "vehicles", func(v *Vehicle) []any {
		return []any{&v.ID, &v.Name, &v.TotalMileage, &v.Trips, &v.Mileage, &v.Fuel, &v.Shipments, &v.SumCost, &v.SumDT}
	})
}

// ReadVehicleInfo returns a vehicle of the served version; ok is false if
// there is no such vehicle.
func ReadVehicleInfo(ctx context.Context, q Querier, id string) (info VehicleInfo, ok bool, err error) {
	err = q.QueryRow(ctx, `SELECT vehicle_id, name, total_mileage FROM agg_vehicle_info WHERE vehicle_id = $1`, id).
		Scan(&info.ID, &info.Name, &info.TotalMileage)
	if errors.Is(err, pgx.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("read vehicle %q: %w", id, err)
	}
	return info, true, nil
}

// VehicleDay is a vehicle's figures on one day.
type VehicleDay struct {
	Day       time.Time
	Trips     int64
	Mileage   float64
	Fuel      float64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicleDays returns the days of the window on which the vehicle has
// a log, in date order.
func ReadVehicleDays(ctx context.Context, q Querier, id string, w Window) ([]VehicleDay, error) {
	rows, err := q.Query(ctx, `
SELECT period, trips, mileage, fuel, shipments, sum_cost, sum_dt
FROM agg_vehicles
WHERE vehicle_id = $1 AND grain = $2 AND period BETWEEN $3 AND $4 AND trips > 0
ORDER BY period`, id, db.GrainDay, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read vehicle %q days: %w", id, err)
	}
	return collect(rows, "vehicle days", func(d *VehicleDay) []any {
		return []any{&d.Day, &d.Trips, &d.Mileage, &d.Fuel, &d.Shipments, &d.SumCost, &d.SumDT}
	})
}

// VehicleRoute is a vehicle's figures on one route over a window.
type VehicleRoute struct {
	RouteKey
	// Trips counts the vehicle's logs that carried a shipment of the route.
	Trips     int64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicleRoutes returns the routes the vehicle carried shipments on in
// the window, ordered by origin and destination.
func ReadVehicleRoutes(ctx context.Context, q Querier, id string, w Window) ([]VehicleRoute, error) {
	rows, err := q.Query(ctx, `
SELECT u.origin, u.destination, sum(u.trips)::bigint, sum(u.shipments)::bigint, sum(u.sum_cost), sum(u.sum_dt)::bigint
FROM agg_vehicle_routes v
CROSS JOIN LATERAL unnest(v.days, v.origins, v.destinations, v.trips, v.shipments, v.sum_cost, v.sum_dt)
    AS u(day, origin, destination, trips, shipments, sum_cost, sum_dt)
WHERE v.vehicle_id = $1 AND v.period BETWEEN date_trunc('year', $2::date) AND $3 AND u.day BETWEEN $2 AND $3
GROUP BY 1, 2
ORDER BY 1, 2`, id, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read vehicle %q routes: %w", id, err)
	}
	return collect(rows, "vehicle routes", func(r *VehicleRoute) []any {
		return []any{&r.Origin, &r.Destination, &r.Trips, &r.Shipments, &r.SumCost, &r.SumDT}
	})
}
