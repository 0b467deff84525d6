-- A refresh, and a rebuild, first numbers the rows an older haul loaded
-- without a batch number (load_batch -1, migration 00006). Through the
-- BRIN index that read every block range not summarized yet, which after a
-- load are the new rows': 0.19-0.28 s of a refresh after 1M shipments at
-- 10M. An index of those rows alone is empty once they are numbered, so the
-- look costs nothing; ingest, which numbers every row, never writes to it
-- (1M shipments copied into a copy of shipments in 2.31-2.48 s with it,
-- 2.32-2.56 s without, alternating). Building it reads the tables once
-- (1.3 s at 10M shipments), blocking loads meanwhile.

-- +goose Up
CREATE INDEX vehicle_logs_stray_idx ON vehicle_logs (load_batch) WHERE load_batch = -1;
CREATE INDEX shipments_stray_idx ON shipments (load_batch) WHERE load_batch = -1;

-- +goose Down
DROP INDEX shipments_stray_idx;
DROP INDEX vehicle_logs_stray_idx;
