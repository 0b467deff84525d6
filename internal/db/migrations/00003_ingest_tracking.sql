-- What ingest needs beyond the raw tables: which run loaded a vehicle (a
-- vehicle re-delivered in the same run is a duplicate, by a later run a
-- replacement: docs/data.md#45-duplicates-and-re-delivery), the days each run touched, and the days touched
-- since the aggregates were last refreshed.

-- +goose Up
ALTER TABLE vehicles ADD COLUMN run_id text NOT NULL DEFAULT '';

CREATE TABLE ingest_run_days (
    run_id text NOT NULL REFERENCES ingest_runs ON DELETE CASCADE,
    day    date NOT NULL,
    PRIMARY KEY (run_id, day)
);

-- Written in the same transaction as the rows that touched the day; precalc
-- consumes it. Days of failed runs stay until a refresh takes them.
CREATE TABLE precalc_dirty_days (
    day        date        PRIMARY KEY,
    touched_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE precalc_dirty_days;
DROP TABLE ingest_run_days;
ALTER TABLE vehicles DROP COLUMN run_id;
