package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// lockRun makes sure one process at a time works on a run id.
func (r *runner) lockRun(ctx context.Context) (func(), error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('haul-ingest:' || $1, 0))`, r.opts.RunID).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock run %s: %w", r.opts.RunID, err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("run %s is being loaded by another process", r.opts.RunID)
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('haul-ingest:' || $1, 0))`, r.opts.RunID); err != nil {
			// Ending the session releases the lock too.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}

func (r *runner) startRun(ctx context.Context) error {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `
		INSERT INTO ingest_runs (run_id) VALUES ($1)
		ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL, error = NULL`, r.opts.RunID); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	for _, ds := range LoadOrder {
		files := r.opts.Inputs[ds]
		if len(files) == 0 {
			continue
		}
		var stored []string
		err := tx.QueryRow(ctx, `
			INSERT INTO ingest_run_datasets (run_id, dataset, files) VALUES ($1, $2, $3)
			ON CONFLICT (run_id, dataset) DO UPDATE SET files = ingest_run_datasets.files
			RETURNING files`, r.opts.RunID, string(ds), files).Scan(&stored)
		if err != nil {
			return fmt.Errorf("record %s inputs: %w", ds, err)
		}
		if !slices.Equal(stored, files) {
			return fmt.Errorf("run %s loaded %s from %q; a resumed run must name the same files in the same order (got %q)",
				r.opts.RunID, ds, stored, files)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	return nil
}

func (r *runner) loadCheckpoints(ctx context.Context, def *datasetDef, locations []string) ([]*inputFile, int64, error) {
	files := make([]*inputFile, len(locations))
	for i, loc := range locations {
		files[i] = &inputFile{index: i, location: loc, committedIndex: -1}
	}
	rows, err := r.pool.Query(ctx, loadCheckpointsSQL, r.opts.RunID, string(def.name))
	if err != nil {
		return nil, 0, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	var rejectsSize int64
	for rows.Next() {
		var (
			index         int
			file          string
			cp            Checkpoint
			digest, rsize int64
			c             counts
			done          bool
		)
		if err := rows.Scan(&index, &file, &cp.Offset, &cp.Index, &cp.Line, &digest, &rsize,
			&c.read, &c.loaded, &c.duplicates, &c.rejected, &c.byReason, &done); err != nil {
			return nil, 0, fmt.Errorf("read checkpoints: %w", err)
		}
		if index >= len(files) || files[index].location != file {
			return nil, 0, fmt.Errorf("run %s has a checkpoint for %s file %d %q that is not among the files given", r.opts.RunID, def.name, index, file)
		}
		cp.Digest = uint64(digest)
		files[index].resume, files[index].counts, files[index].done = &cp, c, done
		files[index].committedIndex = cp.Index
		rejectsSize = max(rejectsSize, rsize)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read checkpoints: %w", err)
	}
	for _, f := range files {
		r.mu.Lock()
		r.totals.add(f.counts)
		r.mu.Unlock()
	}
	return files, rejectsSize, nil
}

func (r *runner) saveDataset(ctx context.Context, dr *DatasetReport) error {
	errJSON, err := json.Marshal(dr.Error)
	if err != nil {
		return err
	}
	if dr.Error == nil {
		errJSON = nil
	}
	_, err = r.pool.Exec(ctx, `
		UPDATE ingest_run_datasets SET status = $3, records_read = $4, loaded = $5, duplicates = $6,
		    rejected = $7, rejected_by_reason = $8, rejects_file = $9, warnings = $10, error = $11
		WHERE run_id = $1 AND dataset = $2`,
		r.opts.RunID, string(dr.Dataset), dr.Status, dr.Read, dr.Loaded, dr.Duplicates,
		dr.Rejected, dr.RejectedByReason, dr.RejectsFile, nonNil(dr.Warnings), errJSON)
	if err != nil {
		return fmt.Errorf("record %s outcome: %w", dr.Dataset, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// finishRun records the outcome and, for a run that succeeded, queues it
// for precalc and announces it on NotifyChannel in the same transaction.
func (r *runner) finishRun(ctx context.Context, report *Report) error {
	var errJSON []byte
	if report.Error != nil {
		var err error
		if errJSON, err = json.Marshal(report.Error); err != nil {
			return err
		}
	}
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE ingest_runs SET status = $2, finished_at = now(), error = $3 WHERE run_id = $1
			RETURNING (SELECT count(*) FROM ingest_run_days WHERE run_id = $1)`,
			r.opts.RunID, report.Status, errJSON).Scan(&report.DaysTouched)
		if err != nil {
			return fmt.Errorf("record run outcome: %w", err)
		}
		if report.Status == statusSucceeded {
			if _, err := tx.Exec(ctx, markPendingSQL, r.opts.RunID); err != nil {
				return fmt.Errorf("mark run pending for precalc: %w", err)
			}
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, r.opts.RunID); err != nil {
				return fmt.Errorf("notify %s: %w", NotifyChannel, err)
			}
		}
		return nil
	})
}
