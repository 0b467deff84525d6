package ingest

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
)

// SQL that ingest runs, built from the dataset definitions; identifiers come
// only from those definitions and are quoted by pgx.Identifier.

// NotifyChannel is where a completed run is announced, with its run id as
// the payload; `haul listen` waits on it.
const NotifyChannel = db.ChannelIngestDone

// extraColumns are loaded alongside a dataset's fields.
var extraColumns = map[Dataset][]string{
	Vehicles:    {"run_id"},
	VehicleLogs: {"load_batch"},
	// trip_date and vehicle_id from the shipment's log (docs/data.md#23-shipments)
	Shipments: {"trip_date", "vehicle_id", "load_batch"},
}

func (d *datasetDef) columns() []string {
	cols := make([]string, 0, len(d.fields)+2)
	for _, f := range d.fields {
		cols = append(cols, f.name)
	}
	return append(cols, extraColumns[d.name]...)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// copySQL loads a batch in binary form.
func (d *datasetDef) copySQL() string {
	return fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", pgx.Identifier{d.table}.Sanitize(), quoteList(d.columns()))
}

// existingSQL finds stored rows with the batch's keys, with their fields in
// definition order (and, for vehicles, the run that loaded them).
func (d *datasetDef) existingSQL() string {
	cols := make([]string, 0, len(d.fields)+1)
	for _, f := range d.fields {
		cols = append(cols, f.name)
	}
	if d.name == Vehicles {
		cols = append(cols, "run_id")
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s = ANY($1)", quoteList(cols),
		pgx.Identifier{d.table}.Sanitize(), pgx.Identifier{d.fields[d.key].name}.Sanitize())
}

// refSQL resolves the batch's references: the vehicles a log names, or the
// logs a shipment names with the date and vehicle the shipment inherits.
var refSQL = map[Dataset]string{
	VehicleLogs: `SELECT vehicle_id, NULL::date, NULL::text FROM vehicles WHERE vehicle_id = ANY($1)`,
	Shipments:   `SELECT log_id, trip_date, vehicle_id FROM vehicle_logs WHERE log_id = ANY($1)`,
}

// markPendingSQL queues a succeeded run for the next aggregate refresh. A
// resumed run that succeeded before is not queued twice.
const markPendingSQL = `INSERT INTO precalc_pending_runs (run_id) VALUES ($1) ON CONFLICT DO NOTHING`

const deleteVehiclesSQL = `DELETE FROM vehicles WHERE vehicle_id = ANY($1)`

// nextBatchSQL numbers a batch's rows, so that the next aggregate refresh
// finds them (migration 00006).
const nextBatchSQL = `SELECT nextval('load_batches')`

// markBatchSQL queues a batch's rows, and their count, for the next
// aggregate refresh.
const markBatchSQL = `INSERT INTO precalc_dirty_batches (batch, rows) VALUES ($1, $2)`
