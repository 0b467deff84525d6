package precalc

import (
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
)

// The refresh's bookkeeping; delta.go has an incremental refresh's SQL.

// claimSQL moves the work queued by ingest to the refresh's claim, in one
// short transaction. The SHARE ROW EXCLUSIVE lock waits for the ingest
// batches that are marking days right now to commit: their rows are then
// visible to the refresh, and a batch that comes later marks its days again.
// The days only count what a refresh did (and make the data stale until
// then); the rows it adds are those of the batches its snapshot sees queued.
var claimSQL = []string{
	`LOCK TABLE precalc_dirty_days IN SHARE ROW EXCLUSIVE MODE`,
	`INSERT INTO precalc_claimed_days (day) SELECT day FROM precalc_dirty_days ON CONFLICT DO NOTHING`,
	`DELETE FROM precalc_dirty_days`,
	`UPDATE precalc_pending_runs SET claimed = true WHERE NOT claimed`,
}

// claimedSQL says what the claim holds, how many batches are queued, and
// whether batch 0 (days queued before batches were numbered) is.
const claimedSQL = `
SELECT (SELECT count(*) FROM precalc_claimed_days),
       coalesce((SELECT array_agg(run_id ORDER BY run_id) FROM precalc_pending_runs WHERE claimed), '{}'),
       (SELECT version FROM precalc_state),
       (SELECT count(*) FROM precalc_dirty_batches),
       EXISTS (SELECT 1 FROM precalc_dirty_batches WHERE batch = 0)`

// staleSQL says whether the aggregates lag the committed data; the API asks
// it too (db.StaleSQL).
const staleSQL = db.StaleSQL

// vehicleInfoSQL snapshots the vehicles' names and lifetime mileage.
// Vehicles are never deleted, only replaced (docs/data.md#45-duplicates-and-re-delivery).
const vehicleInfoSQL = `
INSERT INTO agg_vehicle_info (vehicle_id, name, total_mileage)
SELECT vehicle_id, name, total_mileage FROM vehicles
ON CONFLICT (vehicle_id) DO UPDATE SET name = EXCLUDED.name, total_mileage = EXCLUDED.total_mileage
WHERE (agg_vehicle_info.name, agg_vehicle_info.total_mileage) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.total_mileage)`

// publishSQL ends a refresh: the claim is consumed and the version bumped,
// in the refresh's transaction. $1: start time, $2: full, $3: days refreshed.
var publishSQL = []string{
	`DELETE FROM precalc_claimed_days`,
	`UPDATE precalc_state SET version = version + 1, refreshed_at = clock_timestamp(),
	     last_error = NULL, last_error_at = NULL`,
	`UPDATE ingest_runs SET precalc_version = (SELECT version FROM precalc_state)
	 WHERE run_id IN (SELECT run_id FROM precalc_pending_runs WHERE claimed)`,
}

const recordRefreshSQL = `
WITH runs AS (DELETE FROM precalc_pending_runs WHERE claimed RETURNING run_id)
INSERT INTO precalc_refreshes (version, full_build, started_at, finished_at, days, runs)
SELECT version, $2, $1, refreshed_at, $3, coalesce((SELECT array_agg(run_id ORDER BY run_id) FROM runs), '{}')
FROM precalc_state
RETURNING version, finished_at`

// failedSQL records a refresh that failed; $1 is a one-line message.
const failedSQL = `UPDATE precalc_state SET last_error = $1, last_error_at = clock_timestamp()`

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }
