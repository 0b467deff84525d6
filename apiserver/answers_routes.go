package apiserver

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/haul-dev/haul/internal/rollup"
)

// ReliabilityRow is a qualifying route's delivery time reliability (docs/api.md#36-get-apiroutereliability).
// Its JSON fields, in this order, are the endpoint's sort_by choices.
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
// Its JSON fields, in this order, are the endpoint's sort_by choices.
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
// Its JSON fields, in this order, are the endpoint's sort_by choices.
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
