package runstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FileCheckpoint is the position a run reached in one of a dataset's input
// files, written in the transaction of the batch that reached it, and the
// counts of the file up to there.
type FileCheckpoint struct {
	FileIndex int
	File      string
	// Offset, Index and Line: the decompressed bytes and records consumed,
	// and the line reached; the resume point.
	Offset, Index, Line int64
	// Digest is the xxhash64 of the consumed prefix, stored as the bits of
	// a bigint.
	Digest int64
	// RejectsBytes is the length of the dataset's rejects file covering the
	// consumed prefix.
	RejectsBytes                       int64
	Read, Loaded, Duplicates, Rejected int64
	RejectedByReason                   map[string]int64
	// Done is set by the file's last batch.
	Done bool
}

// upsertCheckpointSQL writes a file's checkpoint only over the one the
// writer committed last ($16, -1 for none): a second process on the same
// run, whose lock session was lost, finds no row returned and cannot
// commit (compare and set).
const upsertCheckpointSQL = `
INSERT INTO ingest_checkpoints (run_id, dataset, file_index, file, byte_offset, record_index, line,
    prefix_hash, rejects_bytes, records_read, loaded, duplicates, rejected, rejected_by_reason, done, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
ON CONFLICT (run_id, dataset, file_index) DO UPDATE SET
    byte_offset = EXCLUDED.byte_offset, record_index = EXCLUDED.record_index, line = EXCLUDED.line,
    prefix_hash = EXCLUDED.prefix_hash, rejects_bytes = EXCLUDED.rejects_bytes,
    records_read = EXCLUDED.records_read, loaded = EXCLUDED.loaded, duplicates = EXCLUDED.duplicates,
    rejected = EXCLUDED.rejected, rejected_by_reason = EXCLUDED.rejected_by_reason,
    done = EXCLUDED.done, updated_at = now()
WHERE ingest_checkpoints.record_index = $16 AND NOT ingest_checkpoints.done
RETURNING 1`

// QueueCheckpoint queues, in q, the statement that writes c as the
// checkpoint of the run's file over the one the writer committed last,
// whose record index is last (-1 for none). The statement returns one row,
// or none when another writer committed meanwhile.
func QueueCheckpoint(q *pgx.Batch, runID, dataset string, c *FileCheckpoint, last int64) {
	byReason := c.RejectedByReason
	if byReason == nil {
		byReason = map[string]int64{}
	}
	q.Queue(upsertCheckpointSQL, runID, dataset, c.FileIndex, c.File,
		c.Offset, c.Index, c.Line, c.Digest, c.RejectsBytes,
		c.Read, c.Loaded, c.Duplicates, c.Rejected, byReason, c.Done, last)
}

const checkpointIndexSQL = `
SELECT record_index, done FROM ingest_checkpoints WHERE run_id = $1 AND dataset = $2 AND file_index = $3`

// CheckpointIndex returns the record index and done flag of the stored
// checkpoint of a run's file; pgx.ErrNoRows when it has none.
func CheckpointIndex(ctx context.Context, pool *pgxpool.Pool, runID, dataset string, fileIndex int) (index int64, done bool, err error) {
	err = pool.QueryRow(ctx, checkpointIndexSQL, runID, dataset, fileIndex).Scan(&index, &done)
	return index, done, err
}

const loadCheckpointsSQL = `
SELECT file_index, file, byte_offset, record_index, line, prefix_hash, rejects_bytes,
       records_read, loaded, duplicates, rejected, rejected_by_reason, done
FROM ingest_checkpoints WHERE run_id = $1 AND dataset = $2 ORDER BY file_index`

// LoadCheckpoints returns the stored checkpoints of a run's files of one
// dataset, by file index: where a resumed run starts.
func LoadCheckpoints(ctx context.Context, pool *pgxpool.Pool, runID, dataset string) ([]FileCheckpoint, error) {
	rows, err := pool.Query(ctx, loadCheckpointsSQL, runID, dataset)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []FileCheckpoint
	for rows.Next() {
		var c FileCheckpoint
		if err := rows.Scan(&c.FileIndex, &c.File, &c.Offset, &c.Index, &c.Line, &c.Digest, &c.RejectsBytes,
			&c.Read, &c.Loaded, &c.Duplicates, &c.Rejected, &c.RejectedByReason, &c.Done); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}
