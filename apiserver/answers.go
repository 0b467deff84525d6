package apiserver

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/haul-dev/haul/internal/rollup"
)

// The answers of the compatibility contract (docs/api.md#3-endpoints), computed
// from the rollup families of one version of the aggregates. Figures are
// computed unrounded and rounded (r2, r1) as the response fields are
// filled, so every order and cut below compares serialised values.

// minRouteShipments is the size of a qualifying route, Q(W) (docs/api.md#12-windows-and-dates).
const minRouteShipments = 5

// topN is the length of the fixed top lists: expensive_routes (3.2),
// top_routes (3.5) and top_cost_routes (3.10).
const topN = 5

// Page is one page of a list endpoint (docs/api.md#2-endpoint-index, 1.4).
type Page[T any] struct {
	Data []T `json:"data"`
	// Total counts the rows after filtering, whatever the page.
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
}

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

// ReliabilityRow is a qualifying route's delivery time reliability (docs/api.md#36-get-apiroutereliability).
type ReliabilityRow struct {
	Origin                string  `json:"origin"`
	Destination           string  `json:"destination"`
	TotalDeliveries       int64   `json:"total_deliveries"`
	AvgDeliveryTime       float64 `json:"avg_delivery_time"`
	DeliveryTimeVariation float64 `json:"delivery_time_variation"`
	ReliabilityScore      float64 `json:"reliability_score"`
	OnTimeDeliveryRate    float64 `json:"on_time_delivery_rate"`
}

// CostValueRow is a qualifying route's cost and value (docs/api.md#37-get-apiroutecost-value).
type CostValueRow struct {
	Origin            string  `json:"origin"`
	Destination       string  `json:"destination"`
	TotalShipments    int64   `json:"total_shipments"`
	AvgShipmentWeight float64 `json:"avg_shipment_weight"`
	AvgCost           float64 `json:"avg_cost"`
	CostPerKg         float64 `json:"cost_per_kg"`
	ValueScore        float64 `json:"value_score"`
	// ValueCategory is highValue, mediumValue or lowValue.
	ValueCategory string `json:"value_category"`
}

// The value categories of docs/api.md#37-get-apiroutecost-value.
const (
	highValue   = "High Value"
	mediumValue = "Medium Value"
	lowValue    = "Low Value"
)

// OptimizationRow is a qualifying route's figures and advice (docs/api.md#38-get-apirouteoptimization).
type OptimizationRow struct {
	Origin             string  `json:"origin"`
	Destination        string  `json:"destination"`
	TotalShipments     int64   `json:"total_shipments"`
	AvgDeliveryTime    float64 `json:"avg_delivery_time"`
	AvgCost            float64 `json:"avg_cost"`
	AvgWeight          float64 `json:"avg_weight"`
	TotalCost          float64 `json:"total_cost"`
	TotalWeight        float64 `json:"total_weight"`
	CostTimeEfficiency float64 `json:"cost_time_efficiency"`
	// OptimizationRecommendation is one of the advice texts.
	OptimizationRecommendation string `json:"optimization_recommendation"`
}

// The advice texts of docs/api.md#38-get-apirouteoptimization, in rule order.
const (
	adviceSlow   = "High delivery time - Consider route optimization"
	adviceCostly = "High cost per weight - Review pricing strategy"
	adviceSmall  = "Low volume, high cost - Consider consolidation"
	adviceNormal = "Performing within normal parameters"
)

// The thresholds of docs/api.md#38-get-apirouteoptimization's rules.
const (
	// adviceFactor times the mean over the qualifying routes is "high".
	adviceFactor = 1.2
	// smallRouteSize and smallCostRatio make rule 3.
	smallRouteSize = 10
	smallCostRatio = 1.5
)

// TopRoute is a qualifying route's scores (docs/api.md#39-get-apiroutetop-performing).
type TopRoute struct {
	Origin                  string             `json:"origin"`
	Destination             string             `json:"destination"`
	TotalShipments          int64              `json:"total_shipments"`
	ReliabilityScore        float64            `json:"reliability_score"`
	CostEfficiencyScore     float64            `json:"cost_efficiency_score"`
	DeliveryEfficiencyScore float64            `json:"delivery_efficiency_score"`
	OverallScore            float64            `json:"overall_score"`
	PerformanceMetrics      PerformanceMetrics `json:"performance_metrics"`
}

// PerformanceMetrics are a top route's plain figures (docs/api.md#39-get-apiroutetop-performing).
type PerformanceMetrics struct {
	OnTimeDeliveryRate float64 `json:"on_time_delivery_rate"`
	AvgCostPerShipment float64 `json:"avg_cost_per_shipment"`
	TotalRevenue       float64 `json:"total_revenue"`
	TotalWeightShipped float64 `json:"total_weight_shipped"`
}

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

// SystemStatus is /api/system/status' answer (docs/api.md#311-get-apisystemstatus).
type SystemStatus struct {
	IsCalculating bool `json:"is_calculating"`
	// LastCalculatedAt is RFC 3339 UTC with microseconds, or null.
	LastCalculatedAt *string `json:"last_calculated_at"`
	ErrorMessage     *string `json:"error_message"`
}

// statusTimeLayout is last_calculated_at's form, e.g. 2024-05-01T10:15:30.123456Z.
const statusTimeLayout = "2006-01-02T15:04:05.000000Z"

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

	var sum rollup.VehicleDay
	out := VehicleDetails{DailyPerformance: make([]VehicleDayRow, 0, len(days)), TopRoutes: []VehicleRouteRow{}}
	for _, d := range days {
		sum.Trips += d.Trips
		sum.Mileage += d.Mileage
		sum.Fuel += d.Fuel
		sum.Shipments += d.Shipments
		sum.SumCost += d.SumCost
		sum.SumDT += d.SumDT
		out.DailyPerformance = append(out.DailyPerformance, VehicleDayRow{
			Date:            d.Day.Format(time.DateOnly),
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

	for _, r := range routes {
		out.TopRoutes = append(out.TopRoutes, VehicleRouteRow{
			Origin:          r.Origin,
			Destination:     r.Destination,
			RouteTrips:      r.Trips,
			AvgRouteTime:    r2(div(float64(r.SumDT), float64(r.Shipments))),
			AvgRouteRevenue: r2(div(r.SumCost, float64(r.Trips))),
		})
	}
	out.TopRoutes = firstN(out.TopRoutes, topN, func(a, b VehicleRouteRow) int {
		return cmp.Or(cmp.Compare(b.RouteTrips, a.RouteTrips),
			strings.Compare(a.Origin, b.Origin), strings.Compare(a.Destination, b.Destination))
	})
	return out, true, nil
}

// answerReliability lists the qualifying routes' delivery time reliability
// (docs/api.md#36-get-apiroutereliability).
func answerReliability(ctx context.Context, s source, w rollup.Window, lp ListParams) (Page[ReliabilityRow], error) {
	routes, err := s.routes(ctx, w)
	if err != nil {
		return Page[ReliabilityRow]{}, err
	}
	rows := make([]ReliabilityRow, countQualifying(routes))
	for i, r := range qualifying(routes) {
		n := float64(r.Shipments)
		rows[i] = ReliabilityRow{
			Origin:                r.Origin,
			Destination:           r.Destination,
			TotalDeliveries:       r.Shipments,
			AvgDeliveryTime:       r2(r.MeanDT()),
			DeliveryTimeVariation: r2(r.SDDT()),
			ReliabilityScore:      r2(reliabilityScore(r.Stats)),
			OnTimeDeliveryRate:    r2(100 * div(float64(r.OnTimeWindow), n)),
		}
	}
	return listPage(rows, lp, reliabilitySort)
}

// reliabilityScore is 100 × (1 − sd / mean), negative when sd > mean
// (docs/api.md#36-get-apiroutereliability).
func reliabilityScore(s rollup.Stats) float64 {
	return 100 * (1 - div(s.SDDT(), s.MeanDT()))
}

// answerCostValue lists the qualifying routes' cost and value, categorised
// against all of them (docs/api.md#37-get-apiroutecost-value).
func answerCostValue(ctx context.Context, s source, w rollup.Window, lp ListParams) (Page[CostValueRow], error) {
	routes, err := s.routes(ctx, w)
	if err != nil {
		return Page[CostValueRow]{}, err
	}
	n := countQualifying(routes)
	scores := make([]float64, n)
	for i, r := range qualifying(routes) {
		scores[i] = div(r.SumCPT, float64(r.Shipments))
	}
	sorted := slices.Clone(scores)
	slices.Sort(sorted)
	p33, p66 := percentile(sorted, 0.33), percentile(sorted, 0.66)
	rows := make([]CostValueRow, n)
	for i, r := range qualifying(routes) {
		n := float64(r.Shipments)
		rows[i] = CostValueRow{
			Origin:            r.Origin,
			Destination:       r.Destination,
			TotalShipments:    r.Shipments,
			AvgShipmentWeight: r2(div(r.SumWeight, n)),
			AvgCost:           r2(div(r.SumCost, n)),
			CostPerKg:         r2(div(r.SumCPK, n)),
			ValueScore:        r2(scores[i]),
			ValueCategory:     valueCategory(scores[i], p33, p66),
		}
	}
	return listPage(rows, lp, costValueSort)
}

// valueCategory places a value score against the 33rd and 66th percentiles:
// a low cost per delivery hour is high value (docs/api.md#37-get-apiroutecost-value).
func valueCategory(score, p33, p66 float64) string {
	switch {
	case score <= p33:
		return highValue
	case score <= p66:
		return mediumValue
	default:
		return lowValue
	}
}

// answerOptimization lists the qualifying routes with advice measured
// against all of them (docs/api.md#38-get-apirouteoptimization).
func answerOptimization(ctx context.Context, s source, w rollup.Window, lp ListParams) (Page[OptimizationRow], error) {
	routes, err := s.routes(ctx, w)
	if err != nil {
		return Page[OptimizationRow]{}, err
	}
	n := countQualifying(routes)
	// G_t and G_k: each route counts once.
	var sumT, sumK float64
	for _, r := range qualifying(routes) {
		sumT += r.MeanDT()
		sumK += div(r.SumCost, r.SumWeight)
	}
	gt, gk := div(sumT, float64(n)), div(sumK, float64(n))
	rows := make([]OptimizationRow, n)
	for i, r := range qualifying(routes) {
		n := float64(r.Shipments)
		m, k := r.MeanDT(), div(r.SumCost, r.SumWeight)
		rows[i] = OptimizationRow{
			Origin:                     r.Origin,
			Destination:                r.Destination,
			TotalShipments:             r.Shipments,
			AvgDeliveryTime:            r2(m),
			AvgCost:                    r2(div(r.SumCost, n)),
			AvgWeight:                  r2(div(r.SumWeight, n)),
			TotalCost:                  r2(r.SumCost),
			TotalWeight:                r2(r.SumWeight),
			CostTimeEfficiency:         r2(div(k, m)),
			OptimizationRecommendation: advice(*r, m, k, gt, gk),
		}
	}
	return listPage(rows, lp, optimizationSort)
}

// advice is the first of docs/api.md#38-get-apirouteoptimization's rules that holds for route r, whose
// mean delivery time is m and cost per kg k, against the means gt and gk.
func advice(r rollup.Route, m, k, gt, gk float64) string {
	switch {
	case m > adviceFactor*gt:
		return adviceSlow
	case k > adviceFactor*gk:
		return adviceCostly
	case r.Shipments < smallRouteSize && r.SumCost > smallCostRatio*gk*r.SumWeight:
		// Implied by the rule before, so never reached; kept as the
		// reference has it.
		return adviceSmall
	default:
		return adviceNormal
	}
}

// The weights of the overall score (docs/api.md#39-get-apiroutetop-performing).
const (
	reliabilityWeight = 0.4
	costWeight        = 0.3
	deliveryWeight    = 0.3
)

// answerTopPerforming ranks the qualifying routes by overall score, with
// cost and delivery time normalised over the whole window (docs/api.md#39-get-apiroutetop-performing).
func answerTopPerforming(ctx context.Context, s source, w rollup.Window, limit int) ([]TopRoute, error) {
	t, err := s.totals(ctx, w)
	if err != nil {
		return nil, err
	}
	routes, err := s.routes(ctx, w)
	if err != nil {
		return nil, err
	}
	out := make([]TopRoute, 0, countQualifying(routes))
	for _, r := range qualifying(routes) {
		n := float64(r.Shipments)
		rel := reliabilityScore(r.Stats)
		cost := normalisedScore(div(r.SumCPK, n), t.MinCPK, t.MaxCPK)
		delivery := normalisedScore(r.MeanDT(), float64(t.MinDT), float64(t.MaxDT))
		out = append(out, TopRoute{
			Origin:                  r.Origin,
			Destination:             r.Destination,
			TotalShipments:          r.Shipments,
			ReliabilityScore:        r2(rel),
			CostEfficiencyScore:     r2(cost),
			DeliveryEfficiencyScore: r2(delivery),
			OverallScore:            r2(reliabilityWeight*rel + costWeight*cost + deliveryWeight*delivery),
			PerformanceMetrics: PerformanceMetrics{
				OnTimeDeliveryRate: r2(100 * div(float64(r.OnTimeDay), n)),
				AvgCostPerShipment: r2(div(r.SumCost, n)),
				TotalRevenue:       r2(r.SumCost),
				TotalWeightShipped: r2(r.SumWeight),
			},
		})
	}
	return firstN(out, max(limit, 0), func(a, b TopRoute) int {
		return cmp.Or(cmp.Compare(b.OverallScore, a.OverallScore),
			strings.Compare(a.Origin, b.Origin), strings.Compare(a.Destination, b.Destination))
	}), nil
}

// normalisedScore is 100 × (1 − (x − lo) / (hi − lo)), 100 for an empty
// range (docs/api.md#39-get-apiroutetop-performing).
func normalisedScore(x, lo, hi float64) float64 {
	if hi == lo {
		return 100
	}
	return 100 * (1 - (x-lo)/(hi-lo))
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

// answerSystemStatus reports the aggregate refresh's state (docs/api.md#311-get-apisystemstatus):
// calculating and failing only while no version is servable.
func answerSystemStatus(ctx context.Context, s source) (SystemStatus, error) {
	st, err := s.state(ctx)
	if err != nil {
		return SystemStatus{}, err
	}
	out := SystemStatus{IsCalculating: st.Version == 0 && st.Refreshing}
	if st.RefreshedAt != nil {
		at := st.RefreshedAt.UTC().Format(statusTimeLayout)
		out.LastCalculatedAt = &at
	}
	if st.Version == 0 && st.LastError != nil {
		msg := *st.LastError
		out.ErrorMessage = &msg
	}
	return out, nil
}

// firstPagesRows is how deep into a list firstN beats sorting it whole.
const firstPagesRows = 1000

// firstN returns the first n of rows in the order of cmp, a total order, as
// sorting them all and cutting would, without sorting them all: a top list
// of 5 out of tens of thousands of routes keeps a heap of 5.
func firstN[T any](rows []T, n int, cmp func(a, b T) int) []T {
	h := make([]T, 0, max(0, min(n, len(rows))))
	// h is a heap whose root is the last row kept so far.
	after := func(i, j int) bool { return cmp(h[i], h[j]) > 0 }
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && after(c+1, c) {
				c++
			}
			if !after(c, i) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for _, r := range rows {
		switch {
		case len(h) < n:
			h = append(h, r)
			for i := len(h) - 1; i > 0 && after(i, (i-1)/2); i = (i - 1) / 2 {
				h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
			}
		case n > 0 && cmp(r, h[0]) < 0:
			h[0] = r
			down(0)
		}
	}
	slices.SortFunc(h, cmp)
	return h
}

// qualifying yields the routes of Q(W), at least minRouteShipments
// shipments (docs/api.md#12-windows-and-dates), numbered from 0: a window
// holds tens of thousands, not worth copying.
func qualifying(routes []rollup.Route) iter.Seq2[int, *rollup.Route] {
	return func(yield func(int, *rollup.Route) bool) {
		n := 0
		for i := range routes {
			if routes[i].Shipments < minRouteShipments {
				continue
			}
			if !yield(n, &routes[i]) {
				return
			}
			n++
		}
	}
}

// countQualifying is the number of routes qualifying yields.
func countQualifying(routes []rollup.Route) int {
	n := 0
	for i := range routes {
		if routes[i].Shipments >= minRouteShipments {
			n++
		}
	}
	return n
}

// listRow is a row of a list endpoint: a route, sortable by any field of
// its endpoint's whitelist.
type listRow interface {
	route() (origin, destination string)
	// sortValue is the serialised value of the field named by its JSON
	// name; ok is false for a field the row does not have.
	sortValue(field string) (v sortValue, ok bool)
}

// sortValue is a field's value for ordering: a number, or a string
// compared by code point.
type sortValue struct {
	num float64
	str string
}

func (a sortValue) compare(b sortValue) int {
	return cmp.Or(cmp.Compare(a.num, b.num), strings.Compare(a.str, b.str))
}

func numKey[T int64 | float64](x T) (sortValue, bool) { return sortValue{num: float64(x)}, true }
func strKey(s string) (sortValue, bool)               { return sortValue{str: s}, true }

// listPage filters rows by lp.Search, sorts them by lp.SortBy (spec's
// default if empty) then origin and destination ascending, and cuts
// lp's page (docs/api.md#14-paging-sorting-search-list-endpoints).
func listPage[T listRow](rows []T, lp ListParams, spec sortSpec) (Page[T], error) {
	field := cmp.Or(lp.SortBy, spec.defaultSort)
	// Rows are ordered by their keys and positions, not moved: a row is
	// several times a key's size, and there are tens of thousands.
	type keyed struct {
		key sortValue
		row int32
	}
	var term string
	if lp.Search != "" {
		term = foldString(lp.Search)
	}
	kept := make([]keyed, 0, len(rows))
	for i, r := range rows {
		o, d := r.route()
		if term != "" && !strings.Contains(foldString(o), term) && !strings.Contains(foldString(d), term) {
			continue
		}
		k, ok := r.sortValue(field)
		if !ok {
			return Page[T]{}, fmt.Errorf("sort by %q: no such field", field)
		}
		kept = append(kept, keyed{key: k, row: int32(i)})
	}
	order := func(a, b keyed) int {
		c := a.key.compare(b.key)
		if lp.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		ao, ad := rows[a.row].route()
		bo, bd := rows[b.row].route()
		return cmp.Or(strings.Compare(ao, bo), strings.Compare(ad, bd))
	}
	out := Page[T]{Data: []T{}, Total: len(kept), Page: lp.Page, PageSize: lp.PageSize}
	if lp.Page < 1 || lp.PageSize < 1 {
		return out, nil
	}
	from := int64(lp.Page-1) * int64(lp.PageSize)
	// The first pages, which clients ask for most, need only their rows
	// in order, not every row.
	if end := from + int64(lp.PageSize); end <= firstPagesRows {
		kept = firstN(kept, int(end), order)
	} else {
		slices.SortFunc(kept, order)
	}
	for i := from; i < from+int64(lp.PageSize) && i < int64(len(kept)); i++ {
		out.Data = append(out.Data, rows[kept[i].row])
	}
	return out, nil
}

func (r ShipmentRouteRow) route() (string, string) { return r.Origin, r.Destination }

func (r ShipmentRouteRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_trips":
		return numKey(r.TotalTrips)
	case "avg_delivery_time":
		return numKey(r.AvgDeliveryTime)
	case "min_delivery_time":
		return numKey(r.MinDeliveryTime)
	case "max_delivery_time":
		return numKey(r.MaxDeliveryTime)
	case "total_cost":
		return numKey(r.TotalCost)
	case "avg_cost":
		return numKey(r.AvgCost)
	case "total_weight":
		return numKey(r.TotalWeight)
	case "unique_vehicles":
		return numKey(r.UniqueVehicles)
	case "cost_per_trip":
		return numKey(r.CostPerTrip)
	}
	return sortValue{}, false
}

func (r ReliabilityRow) route() (string, string) { return r.Origin, r.Destination }

func (r ReliabilityRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_deliveries":
		return numKey(r.TotalDeliveries)
	case "avg_delivery_time":
		return numKey(r.AvgDeliveryTime)
	case "delivery_time_variation":
		return numKey(r.DeliveryTimeVariation)
	case "reliability_score":
		return numKey(r.ReliabilityScore)
	case "on_time_delivery_rate":
		return numKey(r.OnTimeDeliveryRate)
	}
	return sortValue{}, false
}

func (r CostValueRow) route() (string, string) { return r.Origin, r.Destination }

func (r CostValueRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_shipments":
		return numKey(r.TotalShipments)
	case "avg_shipment_weight":
		return numKey(r.AvgShipmentWeight)
	case "avg_cost":
		return numKey(r.AvgCost)
	case "cost_per_kg":
		return numKey(r.CostPerKg)
	case "value_score":
		return numKey(r.ValueScore)
	case "value_category":
		return strKey(r.ValueCategory)
	}
	return sortValue{}, false
}

func (r OptimizationRow) route() (string, string) { return r.Origin, r.Destination }

func (r OptimizationRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_shipments":
		return numKey(r.TotalShipments)
	case "avg_delivery_time":
		return numKey(r.AvgDeliveryTime)
	case "avg_cost":
		return numKey(r.AvgCost)
	case "avg_weight":
		return numKey(r.AvgWeight)
	case "total_cost":
		return numKey(r.TotalCost)
	case "total_weight":
		return numKey(r.TotalWeight)
	case "cost_time_efficiency":
		return numKey(r.CostTimeEfficiency)
	case "optimization_recommendation":
		return strKey(r.OptimizationRecommendation)
	}
	return sortValue{}, false
}
