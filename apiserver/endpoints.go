package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/haul-dev/haul/internal/rollup"
)

// errVehicleNotFound answers 404 {"detail": "Vehicle not found"} (docs/api.md#35-get-apivehiclesvehicle_iddetails).
var errVehicleNotFound = errors.New("Vehicle not found") //nolint:staticcheck // the wire message, capitalised as the reference's

// compute computes an answer from one version of the aggregates.
type compute func(ctx context.Context, s source) (any, error)

// binder validates a request and returns how to compute its answer and the
// answer's key: the validated parameters the endpoint reads, normalised, so
// that unknown parameters, parameter order and equivalent spellings
// (sort_order=DESC, start=2024-1-5) share one cache entry.
type binder func(c *gin.Context) (compute, string, error)

// endpoint is one route of the compatibility contract (docs/api.md#2-endpoint-index): bind
// validates the request and returns how to compute its answer, or a
// *ParamError. Validation comes first, so a bad request costs no query.
type endpoint struct {
	path    string
	summary string
	params  []paramDoc
	// response is a zero value of the answer's type, for the OpenAPI document.
	response any
	bind     binder
	// unversioned answers change without a new data version (system
	// status): neither cached nor given an ETag.
	unversioned bool
}

var endpoints = []endpoint{
	{
		path: "/dashboard", summary: "Current window against the same window shifted back (docs/api.md#31-get-apidashboard)",
		params:   append(windowParams(), intervalTypeParam, periodsBackParam),
		response: Dashboard{},
		bind: func(c *gin.Context) (compute, string, error) {
			p, err := parseDashboard(queryOf(c.Request))
			if err != nil {
				return nil, "", err
			}
			key := windowKey(p.Window) + "&interval_type=" + p.IntervalType + "&periods_back=" + strconv.Itoa(p.PeriodsBack)
			return func(ctx context.Context, s source) (any, error) { return answerDashboard(ctx, s, p) }, key, nil
		},
	},
	{
		path: "/shipments/analytics", summary: "Shipment overview and the most expensive routes of a window (docs/api.md#32-get-apishipmentsanalytics)",
		params: windowParams(), response: ShipmentsAnalytics{},
		bind: windowed(func(ctx context.Context, s source, w rollup.Window) (any, error) {
			return answerShipmentsAnalytics(ctx, s, w)
		}),
	},
	{
		path: "/shipments/routes", summary: "All-time figures per route, paged (docs/api.md#33-get-apishipmentsroutes)",
		params: listParams(shipmentRoutesSort), response: Page[ShipmentRouteRow]{},
		bind: func(c *gin.Context) (compute, string, error) {
			lp, err := parseList(queryOf(c.Request), shipmentRoutesSort)
			if err != nil {
				return nil, "", err
			}
			return func(ctx context.Context, s source) (any, error) { return answerShipmentRoutes(ctx, s, lp) }, lp.key(), nil
		},
	},
	{
		path: "/vehicles/metrics", summary: "Figures per vehicle with a trip in the window (docs/api.md#34-get-apivehiclesmetrics)",
		params: windowParams(), response: []VehicleMetrics{},
		bind: windowed(func(ctx context.Context, s source, w rollup.Window) (any, error) {
			return answerVehicleMetrics(ctx, s, w)
		}),
	},
	{
		path: "/vehicles/:vehicle_id/details", summary: "One vehicle's figures, days and top routes in the window (docs/api.md#35-get-apivehiclesvehicle_iddetails)",
		params:   append([]paramDoc{vehicleIDParam}, windowParams()...),
		response: VehicleDetails{},
		bind: func(c *gin.Context) (compute, string, error) {
			id := c.Param("vehicle_id")
			w, err := parseWindow(queryOf(c.Request))
			if err != nil {
				return nil, "", err
			}
			if !storableID(id, maxVehicleIDRunes) {
				return nil, "", errVehicleNotFound
			}
			return func(ctx context.Context, s source) (any, error) {
				d, ok, err := answerVehicleDetails(ctx, s, id, w)
				if err == nil && !ok {
					return nil, errVehicleNotFound
				}
				return d, err
			}, windowKey(w), nil
		},
	},
	{
		path: "/route/reliability", summary: "Delivery time reliability per qualifying route, paged (docs/api.md#36-get-apiroutereliability)",
		params: windowListParams(reliabilitySort), response: Page[ReliabilityRow]{},
		bind: windowedList(reliabilitySort, func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error) {
			return answerReliability(ctx, s, w, lp)
		}),
	},
	{
		path: "/route/cost-value", summary: "Cost and value per qualifying route, paged (docs/api.md#37-get-apiroutecost-value)",
		params: windowListParams(costValueSort), response: Page[CostValueRow]{},
		bind: windowedList(costValueSort, func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error) {
			return answerCostValue(ctx, s, w, lp)
		}),
	},
	{
		path: "/route/optimization", summary: "Optimisation advice per qualifying route, paged (docs/api.md#38-get-apirouteoptimization)",
		params: windowListParams(optimizationSort), response: Page[OptimizationRow]{},
		bind: windowedList(optimizationSort, func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error) {
			return answerOptimization(ctx, s, w, lp)
		}),
	},
	{
		path: "/route/top-performing", summary: "Best qualifying routes by overall score (docs/api.md#39-get-apiroutetop-performing)",
		params: append(windowParams(), limitParam), response: []TopRoute{},
		bind: func(c *gin.Context) (compute, string, error) {
			w, limit, err := parseTopPerforming(queryOf(c.Request))
			if err != nil {
				return nil, "", err
			}
			key := windowKey(w) + "&limit=" + strconv.Itoa(limit)
			return func(ctx context.Context, s source) (any, error) { return answerTopPerforming(ctx, s, w, limit) }, key, nil
		},
	},
	{
		path: "/costs/overview", summary: "Costs of the window against the window before it (docs/api.md#310-get-apicostsoverview)",
		params: windowParams(), response: CostsOverview{},
		bind: windowed(func(ctx context.Context, s source, w rollup.Window) (any, error) {
			return answerCostsOverview(ctx, s, w)
		}),
	},
	{
		path: "/system/status", summary: "State of the aggregate refresh (docs/api.md#311-get-apisystemstatus)",
		response: SystemStatus{}, unversioned: true,
		bind: func(*gin.Context) (compute, string, error) {
			return func(ctx context.Context, s source) (any, error) { return answerSystemStatus(ctx, s) }, "", nil
		},
	},
}

func windowed(fn func(ctx context.Context, s source, w rollup.Window) (any, error)) binder {
	return func(c *gin.Context) (compute, string, error) {
		w, err := parseWindow(queryOf(c.Request))
		if err != nil {
			return nil, "", err
		}
		return func(ctx context.Context, s source) (any, error) { return fn(ctx, s, w) }, windowKey(w), nil
	}
}

func windowedList(spec sortSpec, fn func(ctx context.Context, s source, w rollup.Window, lp ListParams) (any, error)) binder {
	return func(c *gin.Context) (compute, string, error) {
		w, lp, err := parseWindowList(queryOf(c.Request), spec)
		if err != nil {
			return nil, "", err
		}
		return func(ctx context.Context, s source) (any, error) { return fn(ctx, s, w, lp) }, windowKey(w) + "&" + lp.key(), nil
	}
}

// windowKey is a window's part of an answer's key.
func windowKey(w rollup.Window) string {
	return "start=" + w.Start.Format(time.DateOnly) + "&end=" + w.End.Format(time.DateOnly)
}

// key is the list parameters' part of an answer's key. The search term is
// quoted, so that no term can spell other parameters.
func (lp ListParams) key() string {
	return fmt.Sprintf("page=%d&page_size=%d&sort_by=%s&desc=%t&search=%q", lp.Page, lp.PageSize, lp.SortBy, lp.Desc, lp.Search)
}
