package precalc

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// A refresh appends, to each key of an array table that the new rows
// touch, a segment: a row whose arrays hold the key's new entries
// (delta.go). They are made in haul from the new rows' groups (newrows.go),
// in key and entry order, and written with binary COPY. Grouped in SQL,
// each array_agg(... ORDER BY ...) sorted its group's entries again, and
// most of the time of an append went there.

// segmentAppend appends a segment per key of table.
type segmentAppend struct {
	table string
	// columns are the table's: the key's, segment, then the arrays'.
	columns []string
	// order puts the groups of d in the rows' order, and encode writes
	// the rows from them, each key's with segment, calling spill after
	// each (copyRows).
	order  func(d *deltaRows) []int32
	encode func(d *deltaRows, order []int32, e *pgcopy.Encoder, segment int64, spill func() error) error
}

// segmentAppends are the array tables a refresh appends to.
var segmentAppends = struct {
	routeDays, vehicleRoutes, routeVehicles, vehicleDays segmentAppend
}{
	// The new route entries, by day: on_time_day is not stored, as it
	// compares an entry with its (day, route) group's mean, which new rows
	// move; the readers count it from the day's entries.
	routeDays: segmentAppend{
		table: "agg_routes",
		columns: []string{"period", "segment", "origins", "destinations", "delivery_times", "shipments", "sum_cost",
			"sum_weight", "sum_cpk", "sum_cpt"},
		order:  (*deltaRows).routeDayOrder,
		encode: (*deltaRows).routeDaySegments,
	},
	vehicleRoutes: segmentAppend{
		table: "agg_vehicle_routes",
		columns: []string{"vehicle_id", "period", "segment", "days", "origins", "destinations", "trips", "shipments",
			"sum_cost", "sum_dt"},
		order:  (*deltaRows).vehicleRouteOrder,
		encode: (*deltaRows).vehicleRouteSegments,
	},
	routeVehicles: segmentAppend{
		table:   "agg_origin_vehicles",
		columns: []string{"origin", "segment", "destinations", "days", "vehicle_ids"},
		order:   (*deltaRows).originVehicleOrder,
		encode:  (*deltaRows).originVehicleSegments,
	},
	vehicleDays: segmentAppend{
		table: "agg_vehicle_days",
		columns: []string{"vehicle_id", "period", "segment", "days", "trips", "mileage", "fuel", "shipments",
			"sum_cost", "sum_dt"},
		order:  (*deltaRows).vehicleDayOrder,
		encode: (*deltaRows).vehicleDaySegments,
	},
}

// segmentSQL is the segment a refresh appends: its last batch (without
// any, there is nothing to append).
const segmentSQL = `SELECT coalesce(max(batch), 0) FROM refresh_batches`

// run appends the segment's rows made from d.
func (a segmentAppend) run(ctx context.Context, tx pgx.Tx, d *deltaRows, log logr.Logger) error {
	var segment int64
	if err := tx.QueryRow(ctx, segmentSQL).Scan(&segment); err != nil {
		return fmt.Errorf("read segment: %w", err)
	}
	cols := make([]string, len(a.columns))
	for i, c := range a.columns {
		cols[i] = ident(c)
	}
	order := d.segmentOrder(a)
	tag, err := copyRows(ctx, tx.Conn().PgConn(), `COPY `+ident(a.table)+` (`+strings.Join(cols, ", ")+`) FROM STDIN (FORMAT binary)`,
		func(e *pgcopy.Encoder, spill func() error) error { return a.encode(d, order, e, segment, spill) })
	if err != nil {
		return fmt.Errorf("append to %s: %w", a.table, err)
	}
	log.V(2).Info("refresh segments appended", "table", a.table, "rows", tag.RowsAffected())
	return nil
}

// orderSegments starts putting the groups in each append's order, in the
// background, once the new rows are grouped and ranked: sorted as each
// append began, PostgreSQL waited for each sort (0.1-0.2 s per append of
// 1M new shipments at 10M).
func (d *deltaRows) orderSegments() {
	d.orders = map[string]func() []int32{}
	for _, a := range []segmentAppend{segmentAppends.routeDays, segmentAppends.vehicleRoutes,
		segmentAppends.routeVehicles, segmentAppends.vehicleDays} {
		order := make(chan []int32, 1)
		go func() { order <- a.order(d) }()
		d.orders[a.table] = sync.OnceValue(func() []int32 { return <-order })
	}
}

// segmentOrder returns the groups in a's order.
func (d *deltaRows) segmentOrder(a segmentAppend) []int32 {
	if order, ok := d.orders[a.table]; ok {
		return order()
	}
	return a.order(d)
}

// runs calls each with the runs of order whose items are the same by same,
// until it fails.
func runs(order []int32, same func(a, b int32) bool, each func(run []int32) error) error {
	for len(order) > 0 {
		n := 1
		for n < len(order) && same(order[0], order[n]) {
			n++
		}
		if err := each(order[:n]); err != nil {
			return err
		}
		order = order[n:]
	}
	return nil
}

// routeDayOrder orders the route days by day, route and delivery time,
// and routeDaySegments writes a row per day.
func (d *deltaRows) routeDayOrder() []int32 {
	keys := d.rt.keys
	return orderBy(len(keys), func(i int32) uint64 { return signed(keys[i].day) },
		func(i int32) uint64 { return uint64(d.routeRank[keys[i].route])<<32 | signed(keys[i].dt) })
}

func (d *deltaRows) routeDaySegments(order []int32, e *pgcopy.Encoder, segment int64, spill func() error) error {
	keys, sums := d.rt.keys, d.rt.sums
	return runs(order, func(a, b int32) bool { return keys[a].day == keys[b].day }, func(run []int32) error {
		n := len(run)
		e.Row(10)
		e.Int4(keys[run[0]].day)
		e.Int8(segment)
		for _, city := range []int{0, 1} {
			e.Array(pgcopy.OIDText, n, func(i int) { e.String(d.cities.names[d.routeCities[keys[run[i]].route][city]]) })
		}
		e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(keys[run[i]].dt) })
		e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(int32(sums[run[i]].n)) })
		for _, sum := range []func(*rtSums) float64{
			func(s *rtSums) float64 { return s.cost },
			func(s *rtSums) float64 { return s.weight },
			func(s *rtSums) float64 { return s.cpk },
			func(s *rtSums) float64 { return s.cpt },
		} {
			e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(sum(&sums[run[i]])) })
		}
		return spill()
	})
}

// vehicleRouteOrder orders the vehicle routes by vehicle, day and route,
// and vehicleRouteSegments writes a row per vehicle and year.
func (d *deltaRows) vehicleRouteOrder() []int32 {
	keys := d.vr.keys
	return orderBy(len(keys), func(i int32) uint64 { return uint64(d.vehicleRank[keys[i].vehicle]) },
		func(i int32) uint64 { return signed(keys[i].day)<<32 | uint64(d.routeRank[keys[i].route]) })
}

func (d *deltaRows) vehicleRouteSegments(order []int32, e *pgcopy.Encoder, segment int64, spill func() error) error {
	keys, sums := d.vr.keys, d.vr.sums
	year := func(i int32) int32 { return yearOf(monthOf(keys[i].day)) }
	return runs(order, func(a, b int32) bool { return keys[a].vehicle == keys[b].vehicle && year(a) == year(b) }, func(run []int32) error {
		n := len(run)
		e.Row(10)
		e.String(d.vehicles.names[keys[run[0]].vehicle])
		e.Int4(yearStart(year(run[0])))
		e.Int8(segment)
		e.Array(pgcopy.OIDDate, n, func(i int) { e.Int4(keys[run[i]].day) })
		for _, city := range []int{0, 1} {
			e.Array(pgcopy.OIDText, n, func(i int) { e.String(d.cities.names[d.routeCities[keys[run[i]].route][city]]) })
		}
		e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(int32(sums[run[i]].trips)) })
		e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(int32(sums[run[i]].n)) })
		e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(sums[run[i]].cost) })
		e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(sums[run[i]].dt) })
		return spill()
	})
}

// originVehicleOrder orders the vehicle routes by route, day and vehicle,
// as the rebuild orders a route's entries, and originVehicleSegments
// writes a row of agg_origin_vehicles per origin (migration 00021).
func (d *deltaRows) originVehicleOrder() []int32 {
	keys := d.vr.keys
	return orderBy(len(keys), func(i int32) uint64 { return uint64(d.routeRank[keys[i].route]) },
		func(i int32) uint64 { return signed(keys[i].day)<<32 | uint64(d.vehicleRank[keys[i].vehicle]) })
}

func (d *deltaRows) originVehicleSegments(order []int32, e *pgcopy.Encoder, segment int64, spill func() error) error {
	keys := d.vr.keys
	origin := func(i int32) uint32 { return d.routeCities[keys[i].route][0] }
	return runs(order, func(a, b int32) bool { return origin(a) == origin(b) }, func(run []int32) error {
		n := len(run)
		e.Row(5)
		e.String(d.cities.names[origin(run[0])])
		e.Int8(segment)
		e.Array(pgcopy.OIDText, n, func(i int) { e.String(d.cities.names[d.routeCities[keys[run[i]].route][1]]) })
		e.Array(pgcopy.OIDDate, n, func(i int) { e.Int4(keys[run[i]].day) })
		e.Array(pgcopy.OIDText, n, func(i int) { e.String(d.vehicles.names[keys[run[i]].vehicle]) })
		return spill()
	})
}

// vehicleDayOrder orders the vehicle days by vehicle and day, and
// vehicleDaySegments writes a row per vehicle and year, keyed by the
// year's first day: the rebuild's rows hold a month each, but new rows
// spread over every day touch most of a vehicle's months, and a row per
// month took the most of a refresh's rows (169k for 1M new shipments at
// 10M: 0.7-1.1 s, against 0.23 s for 15k rows by year).
func (d *deltaRows) vehicleDayOrder() []int32 {
	keys := d.vd.keys
	return orderBy(len(keys), func(i int32) uint64 { return uint64(d.vehicleRank[keys[i].vehicle])<<32 | signed(keys[i].day) })
}

func (d *deltaRows) vehicleDaySegments(order []int32, e *pgcopy.Encoder, segment int64, spill func() error) error {
	keys, sums := d.vd.keys, d.vd.sums
	year := func(i int32) int32 { return yearOf(monthOf(keys[i].day)) }
	return runs(order, func(a, b int32) bool { return keys[a].vehicle == keys[b].vehicle && year(a) == year(b) }, func(run []int32) error {
		n := len(run)
		e.Row(10)
		e.String(d.vehicles.names[keys[run[0]].vehicle])
		e.Int4(yearStart(year(run[0])))
		e.Int8(segment)
		e.Array(pgcopy.OIDDate, n, func(i int) { e.Int4(keys[run[i]].day) })
		e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(int32(sums[run[i]].trips)) })
		e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(sums[run[i]].mileage) })
		e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(sums[run[i]].fuel) })
		e.Array(pgcopy.OIDInt4, n, func(i int) { e.Int4(int32(sums[run[i]].n)) })
		e.Array(pgcopy.OIDFloat8, n, func(i int) { e.Float8(sums[run[i]].cost) })
		e.Array(pgcopy.OIDInt8, n, func(i int) { e.Int8(sums[run[i]].dt) })
		return spill()
	})
}
