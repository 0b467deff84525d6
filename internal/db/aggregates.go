package db

import "context"

// Names shared by the side that writes the aggregates (ingest, precalc) and
// the side that reads them (the API), which must not import each other.

// ChannelIngestDone is the NOTIFY channel on which ingest announces a run
// that succeeded, with its run id as the payload; the listener waits on it.
const ChannelIngestDone = "haul_ingest_done"

// PrecalcLockID is the session advisory lock a refresh of the aggregates
// holds from claiming its work to committing it: one refresh at a time, and
// "a refresh is running" is readable from pg_locks by anyone.
const PrecalcLockID int64 = 0x4841554c505245 // "HAULPRE"

// Aggregate grains: the period a rollup row covers.
const (
	GrainDay   int16 = 0
	GrainMonth int16 = 1
	GrainYear  int16 = 2
)

// AggregateTables are the rollup tables the API reads. A full rebuild
// replaces them whole at commit, so a reader takes ACCESS SHARE locks on
// them, in this order, before its first query: it then sees either every
// old table or every new one (internal/rollup.Begin).
var AggregateTables = []string{
	"agg_totals", "agg_routes", "agg_vehicles", "agg_vehicle_days", "agg_vehicle_routes", "agg_route_vehicles",
	"agg_origin_vehicles", "agg_route_totals", "agg_vehicle_info",
}

// StaleSQL says whether the aggregates lag the committed data: days or
// batches ingest queued, a claim no refresh has published yet, or a run no
// served version includes. The refresh (precalc.Stale) and the API
// (/api/v1/version) ask it.
const StaleSQL = `
SELECT EXISTS (SELECT 1 FROM precalc_dirty_days)
    OR EXISTS (SELECT 1 FROM precalc_claimed_days)
    OR EXISTS (SELECT 1 FROM precalc_dirty_batches)
    OR EXISTS (SELECT 1 FROM precalc_pending_runs)`

// Stale runs StaleSQL.
func Stale(ctx context.Context, q Querier) (bool, error) {
	var stale bool
	err := q.QueryRow(ctx, StaleSQL).Scan(&stale)
	return stale, err
}
