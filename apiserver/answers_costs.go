package apiserver

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/haul-dev/haul/internal/rollup"
)

// CostsOverview is /api/costs/overview's answer (docs/api.md#310-get-apicostsoverview).
type CostsOverview struct {
	TotalCost               float64        `json:"total_cost"`
	AvgCostPerShipment      float64        `json:"avg_cost_per_shipment"`
	TotalShipments          int64          `json:"total_shipments"`
	CostPerKm               float64        `json:"cost_per_km"`
	CostPerKg               float64        `json:"cost_per_kg"`
	VehiclesUsed            int64          `json:"vehicles_used"`
	PrevTotalCost           float64        `json:"prev_total_cost"`
	PrevAvgCost             float64        `json:"prev_avg_cost"`
	CostGrowthPercentage    float64        `json:"cost_growth_percentage"`
	AvgCostGrowthPercentage float64        `json:"avg_cost_growth_percentage"`
	TopCostRoutes           []CostRouteRow `json:"top_cost_routes"`
}

// CostRouteRow is one of a window's costliest routes (docs/api.md#310-get-apicostsoverview).
type CostRouteRow struct {
	Origin        string  `json:"origin"`
	Destination   string  `json:"destination"`
	TotalCost     float64 `json:"total_cost"`
	ShipmentCount int64   `json:"shipment_count"`
	AvgCost       float64 `json:"avg_cost"`
}

// answerCostsOverview compares the window's costs with the window of the
// same length before it (docs/api.md#310-get-apicostsoverview).
func answerCostsOverview(ctx context.Context, s source, w rollup.Window) (CostsOverview, error) {
	cur, err := s.totals(ctx, w)
	if err != nil {
		return CostsOverview{}, err
	}
	prev, err := s.totals(ctx, previousWindow(w))
	if err != nil {
		return CostsOverview{}, err
	}
	routes, err := s.routes(ctx, w)
	if err != nil {
		return CostsOverview{}, err
	}
	avg := func(t rollup.Totals) float64 { return div(t.SumCost, float64(t.Shipments)) }
	growth := func(c, p float64) float64 {
		if cur.Shipments == 0 || prev.Shipments == 0 {
			return 0
		}
		return r2(100 * div(c-p, p))
	}
	out := CostsOverview{
		TotalCost:               r2(cur.SumCost),
		AvgCostPerShipment:      r2(avg(cur)),
		TotalShipments:          cur.Shipments,
		CostPerKm:               r2(div(cur.SumCost, cur.CarryingMileage)),
		CostPerKg:               r2(div(cur.SumCost, cur.SumWeight)),
		VehiclesUsed:            cur.Vehicles,
		PrevTotalCost:           r2(prev.SumCost),
		PrevAvgCost:             r2(avg(prev)),
		CostGrowthPercentage:    growth(cur.SumCost, prev.SumCost),
		AvgCostGrowthPercentage: growth(avg(cur), avg(prev)),
		TopCostRoutes:           make([]CostRouteRow, 0, len(routes)),
	}
	for _, r := range routes {
		out.TopCostRoutes = append(out.TopCostRoutes, CostRouteRow{
			Origin:        r.Origin,
			Destination:   r.Destination,
			TotalCost:     r2(r.SumCost),
			ShipmentCount: r.Shipments,
			AvgCost:       r2(div(r.SumCost, float64(r.Shipments))),
		})
	}
	out.TopCostRoutes = firstN(out.TopCostRoutes, topN, func(a, b CostRouteRow) int {
		return cmp.Or(cmp.Compare(b.TotalCost, a.TotalCost),
			strings.Compare(a.Origin, b.Origin), strings.Compare(a.Destination, b.Destination))
	})
	return out, nil
}

// previousWindow is the window of w's length that ends the day before w
// starts (docs/api.md#310-get-apicostsoverview).
func previousWindow(w rollup.Window) rollup.Window {
	end := w.Start.AddDate(0, 0, -1)
	days := int(w.End.Sub(w.Start).Round(24*time.Hour) / (24 * time.Hour))
	return rollup.Window{Start: end.AddDate(0, 0, -days), End: end}
}
