-- Run bookkeeping: one row per ingestion run, its outcome per dataset, and the
-- checkpoints that make a restarted run resume exactly once (docs/data.md#4-load-order-and-run-semantics and 6).

-- +goose Up
CREATE TABLE ingest_runs (
    run_id      text        PRIMARY KEY CHECK (char_length(run_id) BETWEEN 1 AND 128),
    status      text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- The file-level error that ended a failed run: file, offset, line, message.
    error       jsonb,
    CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE TABLE ingest_run_datasets (
    run_id       text   NOT NULL REFERENCES ingest_runs ON DELETE CASCADE,
    dataset      text   NOT NULL CHECK (dataset IN ('vehicles', 'vehicle_logs', 'shipments')),
    status       text   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    files        text[] NOT NULL DEFAULT '{}',
    records_read bigint NOT NULL DEFAULT 0 CHECK (records_read >= 0),
    loaded       bigint NOT NULL DEFAULT 0 CHECK (loaded >= 0),
    duplicates   bigint NOT NULL DEFAULT 0 CHECK (duplicates >= 0),
    rejected     bigint NOT NULL DEFAULT 0 CHECK (rejected >= 0),
    -- reason code -> count, e.g. {"unknown_log": 12}
    rejected_by_reason jsonb NOT NULL DEFAULT '{}',
    rejects_file text,
    warnings     text[] NOT NULL DEFAULT '{}',
    error        jsonb,
    PRIMARY KEY (run_id, dataset)
);

-- The position reached in one input file of a run, written in the same
-- transaction as the batch that reached it.
CREATE TABLE ingest_checkpoints (
    run_id        text        NOT NULL REFERENCES ingest_runs ON DELETE CASCADE,
    dataset       text        NOT NULL CHECK (dataset IN ('vehicles', 'vehicle_logs', 'shipments')),
    file_index    integer     NOT NULL CHECK (file_index >= 0),
    file          text        NOT NULL,
    -- Decompressed bytes and records consumed; the resume point.
    byte_offset   bigint      NOT NULL CHECK (byte_offset >= 0),
    record_index  bigint      NOT NULL CHECK (record_index >= 0),
    line          bigint      NOT NULL CHECK (line >= 1),
    -- xxhash64 of the consumed prefix, so a resume can refuse a changed file.
    prefix_hash   bigint      NOT NULL,
    -- Length of this dataset's rejects file covering the consumed prefix, so
    -- a resume drops rejects written after the checkpoint instead of repeating them.
    rejects_bytes bigint      NOT NULL DEFAULT 0 CHECK (rejects_bytes >= 0),
    records_read  bigint      NOT NULL DEFAULT 0,
    loaded        bigint      NOT NULL DEFAULT 0,
    duplicates    bigint      NOT NULL DEFAULT 0,
    rejected      bigint      NOT NULL DEFAULT 0,
    rejected_by_reason jsonb  NOT NULL DEFAULT '{}',
    done          boolean     NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, dataset, file_index)
);

-- +goose Down
DROP TABLE ingest_checkpoints;
DROP TABLE ingest_run_datasets;
DROP TABLE ingest_runs;
