package apiserver

import (
	"context"
	"errors"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/haul-dev/haul/internal/rollup"
)

// errVehicleNotFound answers 404 {"detail": "Vehicle not found"} (API.md 3.5).
var errVehicleNotFound = errors.New("Vehicle not found") //nolint:staticcheck // the wire message, capitalised as the reference's

// compute computes an answer from one version of the aggregates.
type compute func(ctx context.Context, s source) (any, error)

// endpoint is one route of the compatibility contract (API.md 2): bind
// validates the request and returns how to compute its answer, or a
// *ParamError. Validation comes first, so a bad request costs no query.
type endpoint struct {
	path    string
	summary string
	params  []paramDoc
	// response is a zero value of the answer's type, for the OpenAPI document.
	response any
	bind     func(c *gin.Context) (compute, error)
	// unversioned answers change without a new data version (system
	// status): neither cached nor given an ETag.
	unversioned bool
}

var endpoints = []endpoint{
	{
		path: "/dashboard", summary: "Current window against the same window shifted back (API.md 3.1)",
		params:   append(windowParams(), intervalTypeParam, periodsBackParam),
		response: Dashboard{},
		bind: func(c *gin.Context) (compute, error) {
			p, err := parseDashboard(queryOf(c.Request))
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, s source) (any, error) { return answerDashboard(ctx, s, p) }, nil
		},
	},
	{
		path: "/shipments/analytics", summary: "Shipment overview and the most expensive routes of a window (API.md 3.2)",
		params: windowParams(), response: ShipmentsAnalytics{},
		bind: windowed(func(ctx context.Context, s source, w rollup.Window) (any, error) {
			return answerShipmentsAnalytics(ctx, s, w)
		}),
	},
	{
		path: "/shipments/routes", summary: "All-time figures per route, paged (API.md 3.3)",
		params: listParams(shipmentRoutesSort), response: Page[ShipmentRouteRow]{},
		bind: func(c *gin.Context) (compute, error) {
			lp, err := parseList(queryOf(c.Request), shipmentRoutesSort)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, s source) (any, error) { return answerShipmentRoutes(ctx, s, lp) }, nil
		},
	},
	{
		path: "/vehicles/metrics", summary: "Figures per vehicle with a trip in the window (API.md 3.4)",
		params: windowParams(), response: []VehicleMetrics{},
		bind: windowed(func(ctx context.Context, s source, w rollup.Window) (any, error) {
			return answerVehicleMetrics(ctx, s, w)
		}),
	},
	{
		path: "/vehicles/:vehicle_id/details", summary: "One vehicle's figures, days and top routes in the window (API.md 3.5)",
		params:   append([]paramDoc{vehicleIDParam}, windowParams()...),
		response: VehicleDetails{},
		bind: func(c *gin.Context) (compute, error) {
			id := c.Param("vehicle_id")
			w, err := parseWindow(queryOf(c.Request))
			if err != nil {
				return nil, err
			}
			if !storableID(id, maxVehicleIDRunes) {
				return nil, errVehicleNotFound
			}
			return func(ctx context.Context, s source) (any, error) {
				d, ok, err := answerVehicleDetails(ctx, s, id, w)
				if err == nil && !ok {
					return nil, errVehicleNotFound
				}
				return d, err
			}, nil
		},
	},
	{
		path: "/route/reliability", summary: "Delivery time reliability per qualifying route, paged (API.md 3.6)",
		params: windowListParams(reliabilitySort), response: Page[ReliabilityRow]{},
		bind: windowedList(reliabilitySort, func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error) {
			return answerReliability(ctx, s, w, lp)
		}),
	},
	{
		path: "/route/cost-value", summary: "Cost and value per qualifying route, paged (API.md 3.7)",
		params: windowListParams(costValueSort), response: Page[CostValueRow]{},
		bind: windowedList(costValueSort, func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error) {
			return answerCostValue(ctx, s, w, lp)
		}),
	},
	{
		path: "/route/optimization", summary: "Optimisation advice per qualifying route, paged (API.md 3.8)",
		params: windowListParams(optimizationSort), response: Page[OptimizationRow]{},
		bind: windowedList(optimizationSort, func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error) {
			return answerOptimization(ctx, s, w, lp)
		}),
	},
	{
		path: "/route/top-performing", summary: "Best qualifying routes by overall score (API.md 3.9)",
		params: append(windowParams(), limitParam), response: []TopRoute{},
		bind: func(c *gin.Context) (compute, error) {
			w, limit, err := parseTopPerforming(queryOf(c.Request))
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, s source) (any, error) { return answerTopPerforming(ctx, s, w, limit) }, nil
		},
	},
	{
		path: "/costs/overview", summary: "Costs of the window against the window before it (API.md 3.10)",
		params: windowParams(), response: CostsOverview{},
		bind: windowed(func(ctx context.Context, s source, w rollup.Window) (any, error) {
			return answerCostsOverview(ctx, s, w)
		}),
	},
	{
		path: "/system/status", summary: "State of the aggregate refresh (API.md 3.11)",
		response: SystemStatus{}, unversioned: true,
		bind: func(*gin.Context) (compute, error) {
			return func(ctx context.Context, s source) (any, error) { return answerSystemStatus(ctx, s) }, nil
		},
	},
}

func windowed(fn func(ctx context.Context, s source, w rollup.Window) (any, error)) func(*gin.Context) (compute, error) {
	return func(c *gin.Context) (compute, error) {
		w, err := parseWindow(queryOf(c.Request))
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, s source) (any, error) { return fn(ctx, s, w) }, nil
	}
}

func windowedList(spec sortSpec, fn func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error)) func(*gin.Context) (compute, error) {
	return func(c *gin.Context) (compute, error) {
		w, lp, err := parseWindowList(queryOf(c.Request), spec)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, s source) (any, error) { return fn(ctx, s, w, lp) }, nil
	}
}

// canonicalQuery orders the query so that equal requests share a cache
// entry and an ETag whatever their parameter order.
func canonicalQuery(q url.Values) string { return q.Encode() }
