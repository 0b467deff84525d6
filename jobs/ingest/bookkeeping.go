package ingest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/runstore"
)

// The run's bookkeeping rows, through internal/runstore, which the API reads
// them through too.

// lockRun makes sure one process at a time works on a run id.
func (r *runner) lockRun(ctx context.Context) (func(), error) {
	return runstore.Lock(ctx, r.pool, r.opts.RunID)
}

func (r *runner) startRun(ctx context.Context) error {
	return runstore.Start(ctx, r.pool, r.opts.RunID, r.opts.Inputs)
}

func (r *runner) loadCheckpoints(ctx context.Context, def *datasetDef, locations []string) ([]*inputFile, int64, error) {
	files := make([]*inputFile, len(locations))
	for i, loc := range locations {
		files[i] = &inputFile{index: i, location: loc, committedIndex: -1}
	}
	stored, err := runstore.LoadCheckpoints(ctx, r.pool, r.opts.RunID, string(def.name))
	if err != nil {
		return nil, 0, err
	}
	var rejectsSize int64
	for _, s := range stored {
		if s.FileIndex >= len(files) || files[s.FileIndex].location != s.File {
			return nil, 0, fmt.Errorf("run %s has a checkpoint for %s file %d %q that is not among the files given", r.opts.RunID, def.name, s.FileIndex, s.File)
		}
		cp := Checkpoint{Offset: s.Offset, Index: s.Index, Line: s.Line, Digest: uint64(s.Digest)}
		c := counts{read: s.Read, loaded: s.Loaded, duplicates: s.Duplicates, rejected: s.Rejected, byReason: s.RejectedByReason}
		files[s.FileIndex].resume, files[s.FileIndex].counts, files[s.FileIndex].done = &cp, c, s.Done
		files[s.FileIndex].committedIndex = cp.Index
		rejectsSize = max(rejectsSize, s.RejectsBytes)
	}
	for _, f := range files {
		r.mu.Lock()
		r.totals.add(f.counts)
		r.mu.Unlock()
	}
	return files, rejectsSize, nil
}

func (r *runner) saveDataset(ctx context.Context, dr *DatasetReport) error {
	return runstore.SaveDataset(ctx, r.pool, r.opts.RunID, dr.row())
}

// finishRun records the outcome and, for a run that succeeded, queues it
// for precalc and announces it on NotifyChannel in the same transaction.
func (r *runner) finishRun(ctx context.Context, report *Report) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		days, err := runstore.Finish(ctx, tx, r.opts.RunID, report.Status, report.Error)
		if err != nil {
			return err
		}
		report.DaysTouched = days
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
