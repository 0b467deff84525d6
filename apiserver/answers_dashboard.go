package apiserver

import (
	"context"
	"time"

	"github.com/haul-dev/haul/internal/rollup"
)

// Dashboard is /api/dashboard's answer (docs/api.md#31-get-apidashboard).
type Dashboard struct {
	TotalShipments    int64   `json:"total_shipments"`
	ActiveVehicles    float64 `json:"active_vehicles"`
	TotalRevenue      float64 `json:"total_revenue"`
	AvgDeliveryTime   float64 `json:"avg_delivery_time"`
	ShipmentTrend     float64 `json:"shipment_trend"`
	VehicleTrend      float64 `json:"vehicle_trend"`
	RevenueTrend      float64 `json:"revenue_trend"`
	DeliveryTimeTrend float64 `json:"delivery_time_trend"`
}

// answerDashboard compares the window with the same window shifted back
// periods_back intervals (docs/api.md#31-get-apidashboard).
func answerDashboard(ctx context.Context, s source, p DashboardParams) (Dashboard, error) {
	cur, err := s.totals(ctx, p.Window)
	if err != nil {
		return Dashboard{}, err
	}
	prev, err := s.totals(ctx, shiftWindow(p.Window, p.IntervalType, p.PeriodsBack))
	if err != nil {
		return Dashboard{}, err
	}
	active := func(t rollup.Totals) float64 { return div(float64(t.VehicleDays), float64(t.ShipDays)) }
	trend := func(m func(rollup.Totals) float64) float64 {
		if cur.Shipments == 0 || prev.Shipments == 0 {
			return 0
		}
		return r1(100 * div(m(cur)-m(prev), m(prev)))
	}
	return Dashboard{
		TotalShipments:    cur.Shipments,
		ActiveVehicles:    r2(active(cur)),
		TotalRevenue:      r2(cur.SumCost),
		AvgDeliveryTime:   r2(cur.MeanDT()),
		ShipmentTrend:     trend(func(t rollup.Totals) float64 { return float64(t.Shipments) }),
		VehicleTrend:      trend(active),
		RevenueTrend:      trend(func(t rollup.Totals) float64 { return t.SumCost }),
		DeliveryTimeTrend: trend(rollup.Totals.MeanDT),
	}, nil
}

// shiftWindow moves both ends of w back n intervals (docs/api.md#31-get-apidashboard).
func shiftWindow(w rollup.Window, intervalType string, n int) rollup.Window {
	return rollup.Window{Start: shiftDate(w.Start, intervalType, n), End: shiftDate(w.End, intervalType, n)}
}

// shiftDate moves d back n weeks, months or years. Months and years keep
// the day, clamped to the target month's length, and map the last day of a
// month to the last day of the target month.
func shiftDate(d time.Time, intervalType string, n int) time.Time {
	var months int
	switch intervalType {
	case "week":
		return d.AddDate(0, 0, -7*n)
	case "month":
		months = n
	default: // "year"
		months = 12 * n
	}
	y, m, day := d.Date()
	// The first of the target month, then its length.
	first := time.Date(y, m-time.Month(months), 1, 0, 0, 0, 0, d.Location())
	last := daysIn(first)
	if day == daysIn(d) || day > last {
		day = last
	}
	return first.AddDate(0, 0, day-1)
}

// daysIn is the length of d's month.
func daysIn(d time.Time) int {
	return time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, d.Location()).Day()
}
