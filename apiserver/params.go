package apiserver

import (
	"context"

	"github.com/haul-dev/haul/internal/rollup"
)

// ParamError is a query parameter that failed validation (docs/api.md#15-validation-and-errors): the
// response is 400 {"detail": "<Param>: <Message>"}.
type ParamError struct {
	Param, Message string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Message }

// ListParams are the validated paging, sorting and search parameters of a
// list endpoint (docs/api.md#14-paging-sorting-search-list-endpoints).
type ListParams struct {
	Page, PageSize int
	// SortBy is one of the endpoint's whitelisted fields, as listed there.
	SortBy string
	Desc   bool
	// Search is trimmed; empty means no filter.
	Search string
}

// DashboardParams are /api/dashboard's (docs/api.md#31-get-apidashboard).
type DashboardParams struct {
	Window rollup.Window
	// IntervalType is "week", "month" or "year".
	IntervalType string
	PeriodsBack  int
}

// sortSpec is a list endpoint's sort_by whitelist, in the order docs/api.md
// lists it (which is also the order of the 400 message), and its default.
type sortSpec struct {
	fields      []string
	defaultSort string
}

// The list endpoints' whitelists (docs/api.md#33-get-apishipmentsroutes, 3.6, 3.7, 3.8): every field of
// their rows, in the rows' order.
var (
	shipmentRoutesSort = sortSpec{fields: sortFieldsOf[ShipmentRouteRow]().names, defaultSort: "total_trips"}
	reliabilitySort    = sortSpec{fields: sortFieldsOf[ReliabilityRow]().names, defaultSort: "reliability_score"}
	costValueSort      = sortSpec{fields: sortFieldsOf[CostValueRow]().names, defaultSort: "value_score"}
	optimizationSort   = sortSpec{fields: sortFieldsOf[OptimizationRow]().names, defaultSort: "cost_time_efficiency"}
)

// source is what the answers are computed from: the rollup families of one
// version of the aggregates. The server's implementation reads them in one
// snapshot (rollup.Begin) and may serve repeated reads of the same version
// from memory; txSource reads them straight from a transaction.
type source interface {
	totals(ctx context.Context, w rollup.Window) (rollup.Totals, error)
	routes(ctx context.Context, w rollup.Window) ([]rollup.Route, error)
	routeVehicles(ctx context.Context, w rollup.Window, keys []rollup.RouteKey) (map[rollup.RouteKey]int64, error)
	routeTotals(ctx context.Context) ([]rollup.RouteTotal, error)
	vehicles(ctx context.Context, w rollup.Window) ([]rollup.Vehicle, error)
	vehicleInfo(ctx context.Context, id string) (rollup.VehicleInfo, bool, error)
	vehicleDays(ctx context.Context, id string, w rollup.Window) ([]rollup.VehicleDay, error)
	vehicleRoutes(ctx context.Context, id string, w rollup.Window) ([]rollup.VehicleRoute, error)
	state(ctx context.Context) (rollup.State, error)
}

// txSource reads every family from q, typically a rollup.Begin transaction.
type txSource struct{ q rollup.Querier }

func (s txSource) totals(ctx context.Context, w rollup.Window) (rollup.Totals, error) {
	return rollup.ReadTotals(ctx, s.q, w)
}

func (s txSource) routes(ctx context.Context, w rollup.Window) ([]rollup.Route, error) {
	return rollup.ReadRoutes(ctx, s.q, w)
}

func (s txSource) routeVehicles(ctx context.Context, w rollup.Window, keys []rollup.RouteKey) (map[rollup.RouteKey]int64, error) {
	return rollup.RouteVehicles(ctx, s.q, w, keys)
}

func (s txSource) routeTotals(ctx context.Context) ([]rollup.RouteTotal, error) {
	return rollup.ReadRouteTotals(ctx, s.q)
}

func (s txSource) vehicles(ctx context.Context, w rollup.Window) ([]rollup.Vehicle, error) {
	return rollup.ReadVehicles(ctx, s.q, w)
}

func (s txSource) vehicleInfo(ctx context.Context, id string) (rollup.VehicleInfo, bool, error) {
	return rollup.ReadVehicleInfo(ctx, s.q, id)
}

func (s txSource) vehicleDays(ctx context.Context, id string, w rollup.Window) ([]rollup.VehicleDay, error) {
	return rollup.ReadVehicleDays(ctx, s.q, id, w)
}

func (s txSource) vehicleRoutes(ctx context.Context, id string, w rollup.Window) ([]rollup.VehicleRoute, error) {
	return rollup.ReadVehicleRoutes(ctx, s.q, id, w)
}

func (s txSource) state(ctx context.Context) (rollup.State, error) {
	return rollup.ReadState(ctx, s.q)
}
