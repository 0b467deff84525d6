package apiserver

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/haul-dev/haul/internal/rollup"
)

// VehicleMetrics is a vehicle's figures over a window (docs/api.md#34-get-apivehiclesmetrics).
type VehicleMetrics struct {
	VehicleID          string  `json:"vehicle_id"`
	Name               string  `json:"name"`
	TotalTrips         int64   `json:"total_trips"`
	TotalMileage       float64 `json:"total_mileage"`
	TotalFuel          float64 `json:"total_fuel"`
	FuelEfficiency     float64 `json:"fuel_efficiency"`
	ShipmentsDelivered int64   `json:"shipments_delivered"`
	AvgDeliveryTime    float64 `json:"avg_delivery_time"`
	TotalRevenue       float64 `json:"total_revenue"`
	RevenuePerTrip     float64 `json:"revenue_per_trip"`
	FuelPerTrip        float64 `json:"fuel_per_trip"`
}

// VehicleDetails is /api/vehicles/{vehicle_id}/details' answer (docs/api.md#35-get-apivehiclesvehicle_iddetails).
type VehicleDetails struct {
	Summary          VehicleSummary    `json:"summary"`
	DailyPerformance []VehicleDayRow   `json:"daily_performance"`
	TopRoutes        []VehicleRouteRow `json:"top_routes"`
}

// VehicleSummary is a vehicle's figures over a window (docs/api.md#35-get-apivehiclesvehicle_iddetails).
type VehicleSummary struct {
	VehicleID           string  `json:"vehicle_id"`
	Name                string  `json:"name"`
	LifetimeMileage     float64 `json:"lifetime_mileage"`
	TotalTrips          int64   `json:"total_trips"`
	PeriodMileage       float64 `json:"period_mileage"`
	TotalFuel           float64 `json:"total_fuel"`
	FuelEfficiency      float64 `json:"fuel_efficiency"`
	DeliveriesCompleted int64   `json:"deliveries_completed"`
	AvgDeliveryTime     float64 `json:"avg_delivery_time"`
	TotalRevenue        float64 `json:"total_revenue"`
	RevenuePerTrip      float64 `json:"revenue_per_trip"`
	FuelPerTrip         float64 `json:"fuel_per_trip"`
}

// VehicleDayRow is a vehicle's figures on one day (docs/api.md#35-get-apivehiclesvehicle_iddetails).
type VehicleDayRow struct {
	// Date is YYYY-MM-DD.
	Date            string  `json:"date"`
	Trips           int64   `json:"trips"`
	DailyMileage    float64 `json:"daily_mileage"`
	DailyFuel       float64 `json:"daily_fuel"`
	DailyRevenue    float64 `json:"daily_revenue"`
	DailyDeliveries int64   `json:"daily_deliveries"`
}

// VehicleRouteRow is a vehicle's figures on one route (docs/api.md#35-get-apivehiclesvehicle_iddetails).
type VehicleRouteRow struct {
	Origin          string  `json:"origin"`
	Destination     string  `json:"destination"`
	RouteTrips      int64   `json:"route_trips"`
	AvgRouteTime    float64 `json:"avg_route_time"`
	AvgRouteRevenue float64 `json:"avg_route_revenue"`
}

// answerVehicleMetrics lists the vehicles with a trip in the window by
// revenue (docs/api.md#34-get-apivehiclesmetrics).
func answerVehicleMetrics(ctx context.Context, s source, w rollup.Window) ([]VehicleMetrics, error) {
	vehicles, err := s.vehicles(ctx, w)
	if err != nil {
		return nil, err
	}
	out := make([]VehicleMetrics, 0, len(vehicles))
	for _, v := range vehicles {
		trips := float64(v.Trips)
		out = append(out, VehicleMetrics{
			VehicleID:          v.ID,
			Name:               v.Name,
			TotalTrips:         v.Trips,
			TotalMileage:       r2(v.Mileage),
			TotalFuel:          r2(v.Fuel),
			FuelEfficiency:     r2(div(v.Mileage, v.Fuel)),
			ShipmentsDelivered: v.Shipments,
			AvgDeliveryTime:    r2(div(float64(v.SumDT), float64(v.Shipments))),
			TotalRevenue:       r2(v.SumCost),
			RevenuePerTrip:     r2(div(v.SumCost, trips)),
			FuelPerTrip:        r2(div(v.Fuel, trips)),
		})
	}
	slices.SortFunc(out, func(a, b VehicleMetrics) int {
		return cmp.Or(cmp.Compare(b.TotalRevenue, a.TotalRevenue), strings.Compare(a.VehicleID, b.VehicleID))
	})
	return out, nil
}

// answerVehicleDetails is one vehicle's figures, days and top routes in the
// window (docs/api.md#35-get-apivehiclesvehicle_iddetails); ok is false if no such vehicle is loaded.
func answerVehicleDetails(ctx context.Context, s source, id string, w rollup.Window) (VehicleDetails, bool, error) {
	info, ok, err := s.vehicleInfo(ctx, id)
	if err != nil || !ok {
		return VehicleDetails{}, false, err
	}
	days, err := s.vehicleDays(ctx, id, w)
	if err != nil {
		return VehicleDetails{}, false, err
	}
	routes, err := s.vehicleRoutes(ctx, id, w)
	if err != nil {
		return VehicleDetails{}, false, err
	}

	// The days' dates, formatted into one string.
	dates := make([]byte, 0, len(days)*len(time.DateOnly))
	ends := make([]int, len(days)+1)
	for i, d := range days {
		dates = appendDate(dates, d.Day)
		ends[i+1] = len(dates)
	}
	allDates := string(dates)
	var sum rollup.VehicleDay
	out := VehicleDetails{DailyPerformance: make([]VehicleDayRow, 0, len(days)), TopRoutes: make([]VehicleRouteRow, 0, topN)}
	for i, d := range days {
		sum.Trips += d.Trips
		sum.Mileage += d.Mileage
		sum.Fuel += d.Fuel
		sum.Shipments += d.Shipments
		sum.SumCost += d.SumCost
		sum.SumDT += d.SumDT
		out.DailyPerformance = append(out.DailyPerformance, VehicleDayRow{
			Date:            allDates[ends[i]:ends[i+1]],
			Trips:           d.Trips,
			DailyMileage:    r2(d.Mileage),
			DailyFuel:       r2(d.Fuel),
			DailyRevenue:    r2(d.SumCost),
			DailyDeliveries: d.Shipments,
		})
	}
	slices.SortFunc(out.DailyPerformance, func(a, b VehicleDayRow) int { return strings.Compare(a.Date, b.Date) })
	trips := float64(sum.Trips)
	out.Summary = VehicleSummary{
		VehicleID:           info.ID,
		Name:                info.Name,
		LifetimeMileage:     info.TotalMileage,
		TotalTrips:          sum.Trips,
		PeriodMileage:       r2(sum.Mileage),
		TotalFuel:           r2(sum.Fuel),
		FuelEfficiency:      r2(div(sum.Mileage, sum.Fuel)),
		DeliveriesCompleted: sum.Shipments,
		AvgDeliveryTime:     r2(div(float64(sum.SumDT), float64(sum.Shipments))),
		TotalRevenue:        r2(sum.SumCost),
		RevenuePerTrip:      r2(div(sum.SumCost, trips)),
		FuelPerTrip:         r2(div(sum.Fuel, trips)),
	}

	// The top few are picked from the routes' figures: a vehicle may have
	// carried thousands of routes over the window.
	top := firstN(routes, topN, func(a, b rollup.VehicleRoute) int {
		return cmp.Or(cmp.Compare(b.Trips, a.Trips),
			strings.Compare(a.Origin, b.Origin), strings.Compare(a.Destination, b.Destination))
	})
	for _, r := range top {
		out.TopRoutes = append(out.TopRoutes, VehicleRouteRow{
			Origin:          r.Origin,
			Destination:     r.Destination,
			RouteTrips:      r.Trips,
			AvgRouteTime:    r2(div(float64(r.SumDT), float64(r.Shipments))),
			AvgRouteRevenue: r2(div(r.SumCost, float64(r.Trips))),
		})
	}
	return out, true, nil
}

// appendDate appends t's date as YYYY-MM-DD, which time.Format spends
// several times longer on.
func appendDate(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, time.DateOnly)
	}
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}
