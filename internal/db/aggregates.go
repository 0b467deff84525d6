package db

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
	"agg_totals", "agg_routes", "agg_vehicles", "agg_vehicle_routes", "agg_route_totals", "agg_vehicle_info",
}
