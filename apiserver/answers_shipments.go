package apiserver

import (
	"cmp"
	"context"
	"strings"

	"github.com/haul-dev/haul/internal/rollup"
)

// ShipmentsAnalytics is /api/shipments/analytics' answer (docs/api.md#32-get-apishipmentsanalytics).
type ShipmentsAnalytics struct {
	Overview        ShipmentsOverview `json:"overview"`
	ExpensiveRoutes []ExpensiveRoute  `json:"expensive_routes"`
}

// ShipmentsOverview sums up a window's shipments (docs/api.md#32-get-apishipmentsanalytics).
type ShipmentsOverview struct {
	TotalShipments     int64   `json:"total_shipments"`
	AvgDeliveryTime    float64 `json:"avg_delivery_time"`
	TotalCost          float64 `json:"total_cost"`
	AvgCostPerShipment float64 `json:"avg_cost_per_shipment"`
	TotalWeight        float64 `json:"total_weight"`
	UniqueOrigins      int64   `json:"unique_origins"`
	UniqueDestinations int64   `json:"unique_destinations"`
}

// ExpensiveRoute is one of a window's costliest qualifying routes (docs/api.md#32-get-apishipmentsanalytics).
type ExpensiveRoute struct {
	Origin             string  `json:"origin"`
	Destination        string  `json:"destination"`
	TotalShipments     int64   `json:"total_shipments"`
	TotalCost          float64 `json:"total_cost"`
	AvgCostPerShipment float64 `json:"avg_cost_per_shipment"`
	AvgDeliveryTime    float64 `json:"avg_delivery_time"`
	VehiclesUsed       int64   `json:"vehicles_used"`
}

// ShipmentRouteRow is a route's all-time figures (docs/api.md#33-get-apishipmentsroutes).
// Its JSON fields, in this order, are the endpoint's sort_by choices.
type ShipmentRouteRow struct {
	Origin          string  `json:"origin"`
	Destination     string  `json:"destination"`
	TotalTrips      int64   `json:"total_trips"`
	AvgDeliveryTime float64 `json:"avg_delivery_time"`
	MinDeliveryTime float64 `json:"min_delivery_time"`
	MaxDeliveryTime float64 `json:"max_delivery_time"`
	TotalCost       float64 `json:"total_cost"`
	AvgCost         float64 `json:"avg_cost"`
	TotalWeight     float64 `json:"total_weight"`
	UniqueVehicles  int64   `json:"unique_vehicles"`
	CostPerTrip     float64 `json:"cost_per_trip"`
}

// answerShipmentsAnalytics sums up the window's shipments and lists its
// five costliest qualifying routes (docs/api.md#32-get-apishipmentsanalytics).
func answerShipmentsAnalytics(ctx context.Context, s source, w rollup.Window) (ShipmentsAnalytics, error) {
	t, err := s.totals(ctx, w)
	if err != nil {
		return ShipmentsAnalytics{}, err
	}
	routes, err := s.routes(ctx, w)
	if err != nil {
		return ShipmentsAnalytics{}, err
	}
	origins, destinations := rollup.Places(routes)
	out := ShipmentsAnalytics{
		Overview: ShipmentsOverview{
			TotalShipments:     t.Shipments,
			AvgDeliveryTime:    r2(t.MeanDT()),
			TotalCost:          r2(t.SumCost),
			AvgCostPerShipment: r2(div(t.SumCost, float64(t.Shipments))),
			TotalWeight:        r2(t.SumWeight),
			UniqueOrigins:      origins,
			UniqueDestinations: destinations,
		},
		ExpensiveRoutes: make([]ExpensiveRoute, 0, countQualifying(routes)),
	}
	for _, r := range qualifying(routes) {
		out.ExpensiveRoutes = append(out.ExpensiveRoutes, ExpensiveRoute{
			Origin:             r.Origin,
			Destination:        r.Destination,
			TotalShipments:     r.Shipments,
			TotalCost:          r2(r.SumCost),
			AvgCostPerShipment: r2(div(r.SumCost, float64(r.Shipments))),
			AvgDeliveryTime:    r2(r.MeanDT()),
		})
	}
	out.ExpensiveRoutes = firstN(out.ExpensiveRoutes, topN, func(a, b ExpensiveRoute) int {
		return cmp.Or(cmp.Compare(b.AvgCostPerShipment, a.AvgCostPerShipment),
			strings.Compare(a.Origin, b.Origin), strings.Compare(a.Destination, b.Destination))
	})
	if len(out.ExpensiveRoutes) == 0 {
		return out, nil
	}
	keys := make([]rollup.RouteKey, len(out.ExpensiveRoutes))
	for i, r := range out.ExpensiveRoutes {
		keys[i] = rollup.RouteKey{Origin: r.Origin, Destination: r.Destination}
	}
	vehicles, err := s.routeVehicles(ctx, w, keys)
	if err != nil {
		return ShipmentsAnalytics{}, err
	}
	for i, k := range keys {
		out.ExpensiveRoutes[i].VehiclesUsed = vehicles[k]
	}
	return out, nil
}

// answerShipmentRoutes lists every route's all-time figures (docs/api.md#33-get-apishipmentsroutes).
func answerShipmentRoutes(ctx context.Context, s source, lp ListParams) (Page[ShipmentRouteRow], error) {
	totals, err := s.routeTotals(ctx)
	if err != nil {
		return Page[ShipmentRouteRow]{}, err
	}
	rows := make([]ShipmentRouteRow, len(totals))
	for i, r := range totals {
		avgCost := r2(div(r.SumCost, float64(r.Shipments)))
		rows[i] = ShipmentRouteRow{
			Origin:          r.Origin,
			Destination:     r.Destination,
			TotalTrips:      r.Shipments,
			AvgDeliveryTime: r2(r.MeanDT()),
			MinDeliveryTime: float64(r.MinDT),
			MaxDeliveryTime: float64(r.MaxDT),
			TotalCost:       r2(r.SumCost),
			AvgCost:         avgCost,
			TotalWeight:     r2(r.SumWeight),
			UniqueVehicles:  r.UniqueVehicles,
			CostPerTrip:     avgCost,
		}
	}
	return listPage(rows, lp, shipmentRoutesSort)
}
