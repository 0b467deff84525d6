package precalc

import (
	"io"
	"strings"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// tableOut is one rollup table's rows, encoded for COPY into its copy and
// streamed to it through a pipe while they are added up.
type tableOut struct {
	table   string
	columns []string
	// options are the table's storage options, for its copy
	options []string
	enc     pgcopy.Encoder
	r       *io.PipeReader
	w       *io.PipeWriter
}

// tables are the rollup tables a full rebuild writes.
type tables struct {
	totals, routes, routeTotals, vehicles, vehicleDays, vehicleRoutes, routeVehicles, originVehicles, vehicleInfo tableOut
}

// The columns each table's rows are encoded in; build.go writes them in
// this order.
var tableColumns = map[string][]string{
	"agg_totals": {"grain", "period", "logs", "mileage", "fuel", "carrying_mileage", "shipments", "sum_cost",
		"sum_weight", "sum_dt", "sum_dt2", "min_dt", "max_dt", "min_cpk", "max_cpk", "ship_days", "vehicle_days"},
	"agg_routes": {"period", "segment", "origins", "destinations", "delivery_times", "shipments", "sum_cost",
		"sum_weight", "sum_cpk", "sum_cpt"},
	"agg_route_totals": {"origin", "segment", "destinations", "shipments", "sum_cost", "sum_weight", "sum_dt", "min_dt",
		"max_dt", "unique_vehicles"},
	"agg_vehicles": {"grain", "period", "segment", "vehicle_ids", "trips", "mileage", "fuel", "shipments", "sum_cost", "sum_dt"},
	"agg_vehicle_days": {"vehicle_id", "period", "segment", "days", "trips", "mileage", "fuel", "shipments", "sum_cost",
		"sum_dt"},
	"agg_vehicle_routes": {"vehicle_id", "period", "segment", "days", "origins", "destinations", "trips", "shipments",
		"sum_cost", "sum_dt"},
	"agg_route_vehicles": {"origin", "destination", "segment", "days", "vehicle_ids"},
	// A rebuild writes its routes' vehicles to agg_route_vehicles, and
	// none here: only refreshes append to it.
	"agg_origin_vehicles": {"origin", "segment", "destinations", "days", "vehicle_ids"},
	"agg_vehicle_info":    {"vehicle_id", "name", "total_mileage"},
}

func newTables() *tables {
	t := &tables{}
	for name, out := range t.byName() {
		out.table, out.columns = name, tableColumns[name]
		out.r, out.w = io.Pipe()
		out.enc.Reset()
	}
	return t
}

func (t *tables) byName() map[string]*tableOut {
	return map[string]*tableOut{
		"agg_totals": &t.totals, "agg_routes": &t.routes, "agg_route_totals": &t.routeTotals,
		"agg_vehicles": &t.vehicles, "agg_vehicle_days": &t.vehicleDays, "agg_vehicle_routes": &t.vehicleRoutes,
		"agg_route_vehicles": &t.routeVehicles, "agg_origin_vehicles": &t.originVehicles,
		"agg_vehicle_info": &t.vehicleInfo,
	}
}

// lanes are the copies each connection loads, in order: the three large
// tables, streamed while the rows are added up (agg_routes a day at a
// time, agg_vehicle_days a month at a time, agg_vehicle_routes a year at a
// time), then the ones written at the end; agg_route_vehicles, the largest
// of those, on a lane other than agg_vehicle_routes', whose last year
// loads meanwhile (builder.finish).
func (t *tables) lanes() [3][]*tableOut {
	return [3][]*tableOut{
		{&t.routes, &t.routeVehicles, &t.originVehicles, &t.totals, &t.routeTotals},
		{&t.vehicleRoutes},
		{&t.vehicleDays, &t.vehicles, &t.vehicleInfo},
	}
}

// spillSize is how much a table encodes in memory before sending it.
const spillSize = 1 << 20

// spill sends the rows encoded so far, once they are many.
func (o *tableOut) spill() error {
	if o.enc.Len() < spillSize {
		return nil
	}
	return o.enc.Flush(o.w)
}

// finish sends the rest of the table's stream and ends it.
func (o *tableOut) finish() error {
	if _, err := o.w.Write(o.enc.Finish()); err != nil {
		return err
	}
	return o.w.Close()
}

// abort ends the table's stream, and its COPY, with err; and a write
// still waiting for its COPY.
func (o *tableOut) abort(err error) {
	_ = o.w.CloseWithError(err)
	_ = o.r.CloseWithError(err)
}

// copySQL loads the table's rows into its copy. FREEZE: the copy is
// created in the same transaction, so its rows can be written frozen and
// its pages all-visible, for index-only scans, without a vacuum.
func (o *tableOut) copySQL() string {
	cols := make([]string, len(o.columns))
	for i, c := range o.columns {
		cols[i] = ident(c)
	}
	return `COPY ` + ident(o.table+nextSuffix) + ` (` + strings.Join(cols, ", ") + `) FROM STDIN (FORMAT binary, FREEZE)`
}
