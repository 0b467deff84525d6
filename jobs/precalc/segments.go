package precalc

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// A refresh appends, to each key of an array table that the new rows
// touch, a segment: a row whose arrays hold the key's new entries
// (delta.go). Grouped in SQL, each array_agg(... ORDER BY ...) sorted its
// group's entries again, and most of the time of an append went there.
// Here the staged entries are read once, in key and entry order, with
// binary COPY, and the rows are made in haul and written with binary COPY.

// segmentAppend appends a segment per key of table: query returns the
// key's columns first (keys of them), then an element of each array
// column, ordered by the key, then as the arrays list their elements.
type segmentAppend struct {
	table string
	keys  int
	// columns are the table's: the key's, segment, then the arrays'.
	columns []string
	// oids are the arrays' element types; the query returns them in these
	// types.
	oids  []uint32
	query string
}

// segmentAppends are the array tables a refresh appends to, from the
// staged deltas (delta.go).
var segmentAppends = struct {
	routeDays, vehicleRoutes, routeVehicles, vehicleDays segmentAppend
}{
	// The new route entries, by day: on_time_day is not stored, as it
	// compares an entry with its (day, route) group's mean, which new rows
	// move; the readers count it from the day's entries.
	routeDays: segmentAppend{
		table: "agg_routes", keys: 1,
		columns: []string{"period", "segment", "origins", "destinations", "delivery_times", "shipments", "sum_cost",
			"sum_weight", "sum_cpk", "sum_cpt"},
		oids: []uint32{pgcopy.OIDText, pgcopy.OIDText, pgcopy.OIDInt4, pgcopy.OIDInt4, pgcopy.OIDFloat8,
			pgcopy.OIDFloat8, pgcopy.OIDFloat8, pgcopy.OIDFloat8},
		query: `SELECT day, origin, destination, dt, n::integer, sum_cost, sum_weight, sum_cpk, sum_cpt
FROM stage_rt ORDER BY day, origin, destination, dt`,
	},
	vehicleRoutes: segmentAppend{
		table: "agg_vehicle_routes", keys: 2,
		columns: []string{"vehicle_id", "period", "segment", "days", "origins", "destinations", "trips", "shipments",
			"sum_cost", "sum_dt"},
		oids: []uint32{pgcopy.OIDDate, pgcopy.OIDText, pgcopy.OIDText, pgcopy.OIDInt4, pgcopy.OIDInt4,
			pgcopy.OIDFloat8, pgcopy.OIDInt8},
		query: `SELECT vehicle_id, date_trunc('year', day)::date, day, origin, destination, trips::integer, n::integer,
       sum_cost, sum_dt::bigint
FROM stage_vr ORDER BY vehicle_id, 2, day, origin, destination`,
	},
	routeVehicles: segmentAppend{
		table: "agg_route_vehicles", keys: 2,
		columns: []string{"origin", "destination", "segment", "days", "vehicle_ids"},
		oids:    []uint32{pgcopy.OIDDate, pgcopy.OIDText},
		query:   `SELECT origin, destination, day, vehicle_id FROM stage_vr ORDER BY origin, destination, vehicle_id, day`,
	},
	vehicleDays: segmentAppend{
		table: "agg_vehicle_days", keys: 2,
		columns: []string{"vehicle_id", "period", "segment", "days", "trips", "mileage", "fuel", "shipments",
			"sum_cost", "sum_dt"},
		oids: []uint32{pgcopy.OIDDate, pgcopy.OIDInt4, pgcopy.OIDFloat8, pgcopy.OIDFloat8, pgcopy.OIDInt4,
			pgcopy.OIDFloat8, pgcopy.OIDInt8},
		query: `SELECT vehicle_id, date_trunc('month', day)::date, day, trips::integer, mileage, fuel, shipments::integer,
       sum_cost, sum_dt::bigint
FROM delta_vehicles ORDER BY vehicle_id, 2, day`,
	},
}

// segmentSQL is the segment a refresh appends: its last batch (without
// any, there is nothing to append).
const segmentSQL = `SELECT coalesce(max(batch), 0) FROM refresh_batches`

// run appends the segment's rows: read whole, then written, as one
// session cannot stream both ways at once.
func (a segmentAppend) run(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	var segment int64
	if err := tx.QueryRow(ctx, segmentSQL).Scan(&segment); err != nil {
		return fmt.Errorf("read segment: %w", err)
	}
	var enc pgcopy.Encoder
	enc.Reset()
	var key, next []byte // the current and the row's key, as fields
	elements := make([][]byte, len(a.oids))
	n := 0
	end := func() {
		if n == 0 {
			return
		}
		enc.Row(len(a.columns))
		enc.Fields(key)
		enc.Int8(segment)
		for i, oid := range a.oids {
			enc.ArrayOfFields(oid, n, elements[i])
			elements[i] = elements[i][:0]
		}
		n = 0
	}
	d := &pgcopy.Decoder{Row: func(f [][]byte) error {
		if len(f) != a.keys+len(a.oids) {
			return fmt.Errorf("%d columns, want %d", len(f), a.keys+len(a.oids))
		}
		next = next[:0]
		for _, v := range f[:a.keys] {
			if v == nil {
				return errNull
			}
			next = pgcopy.AppendField(next, v)
		}
		if !bytes.Equal(key, next) {
			end()
			key, next = next, key
		}
		for i, v := range f[a.keys:] {
			if v == nil {
				return errNull
			}
			elements[i] = pgcopy.AppendField(elements[i], v)
		}
		n++
		return nil
	}}
	if _, err := tx.Conn().PgConn().CopyTo(ctx, d, `COPY (`+a.query+`) TO STDOUT (FORMAT binary)`); err != nil {
		return fmt.Errorf("read %s entries: %w", a.table, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("read %s entries: %w", a.table, err)
	}
	end()
	cols := make([]string, len(a.columns))
	for i, c := range a.columns {
		cols[i] = ident(c)
	}
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(enc.Finish()),
		`COPY `+ident(a.table)+` (`+strings.Join(cols, ", ")+`) FROM STDIN (FORMAT binary)`); err != nil {
		return fmt.Errorf("append to %s: %w", a.table, err)
	}
	log.V(2).Info("refresh segments appended", "table", a.table, "rows", enc.Rows(), "entries", d.Rows())
	return nil
}
