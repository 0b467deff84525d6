-- Refreshes add up only the rows loaded since the last one (jobs/precalc,
-- docs/architecture.md "Refresh by delta"): each ingest batch numbers its rows
-- from load_batches and queues that number in precalc_dirty_batches, in the
-- transaction that loads them. A refresh finds a batch's rows by that number
-- through a BRIN index, which costs next to nothing to keep, as rows are
-- appended in batch order. The trip_date indexes served the refresh's old way,
-- which recomputed whole days; nothing reads by date now, and they made
-- storing a row about twice as costly (issue 14).

-- +goose Up
CREATE SEQUENCE load_batches;

-- 0: loaded before this migration, which every served version includes;
-- -1: loaded since without a number, by an older haul still running during an
-- upgrade: a refresh numbers those rows as a batch of their own.
ALTER TABLE vehicle_logs ADD COLUMN load_batch bigint NOT NULL DEFAULT 0;
ALTER TABLE shipments ADD COLUMN load_batch bigint NOT NULL DEFAULT 0;
ALTER TABLE vehicle_logs ALTER COLUMN load_batch SET DEFAULT -1;
ALTER TABLE shipments ALTER COLUMN load_batch SET DEFAULT -1;
-- autosummarize: a block range is summarized once it is full, not at the next
-- vacuum; a refresh reads every range that is not.
CREATE INDEX vehicle_logs_load_batch_idx ON vehicle_logs USING brin (load_batch) WITH (autosummarize = on);
CREATE INDEX shipments_load_batch_idx ON shipments USING brin (load_batch) WITH (autosummarize = on);
DROP INDEX vehicle_logs_trip_date_idx;
DROP INDEX shipments_trip_date_idx;

-- A refresh rewrites the (day, route) groups new rows touch: the origin
-- leads the index to a few dozen rows of the day instead of all of them. With
-- the destination too the index was 3.3 times larger (115 MB against 35 MB
-- at 2M shipments; 22 MB without either) and a rebuild took longer.
DROP INDEX agg_routes_period_idx;
CREATE INDEX agg_routes_period_idx ON agg_routes (grain, period, origin);

-- Batches whose rows no served version includes yet. Batch 0 asks for a full
-- rebuild: days queued before this migration are redone whole.
CREATE TABLE precalc_dirty_batches (
    batch bigint PRIMARY KEY
);
INSERT INTO precalc_dirty_batches (batch)
SELECT 0 WHERE EXISTS (SELECT 1 FROM precalc_dirty_days) OR EXISTS (SELECT 1 FROM precalc_claimed_days);

-- +goose Down
DROP INDEX agg_routes_period_idx;
CREATE INDEX agg_routes_period_idx ON agg_routes (grain, period);
DROP TABLE precalc_dirty_batches;
CREATE INDEX shipments_trip_date_idx ON shipments (trip_date);
CREATE INDEX vehicle_logs_trip_date_idx ON vehicle_logs (trip_date);
DROP INDEX shipments_load_batch_idx;
DROP INDEX vehicle_logs_load_batch_idx;
ALTER TABLE shipments DROP COLUMN load_batch;
ALTER TABLE vehicle_logs DROP COLUMN load_batch;
DROP SEQUENCE load_batches;
