package runstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/dataset"
)

// RunSummary is one ingestion run in a listing.
type RunSummary struct {
	RunID      string     `json:"run_id"`
	Status     string     `json:"status" enum:"running,succeeded,failed"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// DurationSeconds is null while the run is running.
	DurationSeconds *float64 `json:"duration_seconds"`
	DaysTouched     int64    `json:"days_touched"`
	// PrecalcVersion is the first aggregate version that includes the run;
	// null until a refresh does.
	PrecalcVersion *int64 `json:"precalc_version"`
}

// RunDetail is one run with its datasets.
type RunDetail struct {
	RunSummary
	Error    *FileError   `json:"error" nullable:"true"`
	Datasets []RunDataset `json:"datasets"`
}

// ErrNotFound is Get's answer for a run id with no run.
var ErrNotFound = errors.New("run not found")

// readOnly is the transaction a read runs in: one snapshot of every table.
var readOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// Beginner opens the transaction a read runs in; a *pgxpool.Pool is one.
type Beginner interface {
	BeginTx(ctx context.Context, txOptions pgx.TxOptions) (pgx.Tx, error)
}

// Start records a run as running and the files it loads for each dataset,
// in one transaction. A resumed run must name the files it named before,
// in the same order.
func Start(ctx context.Context, pool *pgxpool.Pool, runID string, inputs map[dataset.Name][]string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `
		INSERT INTO ingest_runs (run_id) VALUES ($1)
		ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL, error = NULL`, runID); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	for _, ds := range dataset.LoadOrder() {
		files := inputs[ds]
		if len(files) == 0 {
			continue
		}
		var stored []string
		err := tx.QueryRow(ctx, `
			INSERT INTO ingest_run_datasets (run_id, dataset, files) VALUES ($1, $2, $3)
			ON CONFLICT (run_id, dataset) DO UPDATE SET files = ingest_run_datasets.files
			RETURNING files`, runID, string(ds), files).Scan(&stored)
		if err != nil {
			return fmt.Errorf("record %s inputs: %w", ds, err)
		}
		if !slices.Equal(stored, files) {
			return fmt.Errorf("run %s loaded %s from %q; a resumed run must name the same files in the same order (got %q)",
				runID, ds, stored, files)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	return nil
}

// Finish records a run's outcome in the caller's transaction, tx, and
// returns how many days the run touched.
func Finish(ctx context.Context, tx pgx.Tx, runID, status string, failure *FileError) (daysTouched int64, err error) {
	var errJSON []byte
	if failure != nil {
		if errJSON, err = json.Marshal(failure); err != nil {
			return 0, err
		}
	}
	err = tx.QueryRow(ctx, `
		UPDATE ingest_runs SET status = $2, finished_at = now(), error = $3 WHERE run_id = $1
		RETURNING (SELECT count(*) FROM ingest_run_days WHERE run_id = $1)`,
		runID, status, errJSON).Scan(&daysTouched)
	if err != nil {
		return 0, fmt.Errorf("record run outcome: %w", err)
	}
	return daysTouched, nil
}

// markDaysSQL records the days a batch touched as the run's ($1), and
// queues them for the next aggregate refresh; $2 lists them.
const markDaysSQL = `
WITH days AS (SELECT DISTINCT unnest($2::date[]) AS day),
run_days AS (
    INSERT INTO ingest_run_days (run_id, day) SELECT $1, day FROM days ON CONFLICT DO NOTHING
)
INSERT INTO precalc_dirty_days (day) SELECT day FROM days ON CONFLICT DO NOTHING`

// QueueMarkDays queues, in q, the statement that records days as touched
// by the run and queues them for the next aggregate refresh.
func QueueMarkDays(q *pgx.Batch, runID string, days []time.Time) {
	q.Queue(markDaysSQL, runID, days)
}

const runColumns = `r.run_id, r.status, r.started_at, r.finished_at,
    (SELECT count(*) FROM ingest_run_days d WHERE d.run_id = r.run_id), r.precalc_version`

func scanRun(row pgx.Row, extra ...any) (RunSummary, error) {
	var r RunSummary
	err := row.Scan(append([]any{&r.RunID, &r.Status, &r.StartedAt, &r.FinishedAt, &r.DaysTouched, &r.PrecalcVersion}, extra...)...)
	if r.FinishedAt != nil {
		d := r.FinishedAt.Sub(r.StartedAt).Seconds()
		r.DurationSeconds = &d
	}
	return r, err
}

// List returns how many runs there are and, newest first, up to limit of
// them after the first offset, from one snapshot; runs is empty, not nil,
// past the last.
func List(ctx context.Context, db Beginner, limit int, offset int64) (total int64, runs []RunSummary, err error) {
	runs = []RunSummary{}
	err = pgx.BeginTxFunc(ctx, db, readOnly, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM ingest_runs`).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+runColumns+` FROM ingest_runs r
			ORDER BY r.started_at DESC, r.run_id LIMIT $1 OFFSET $2`, limit, offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
		return rows.Err()
	})
	return total, runs, err
}

// Get returns the run with the given id and its datasets in load order,
// from one snapshot; ErrNotFound when there is none.
func Get(ctx context.Context, db Beginner, id string) (RunDetail, error) {
	var out RunDetail
	var runErr []byte
	err := pgx.BeginTxFunc(ctx, db, readOnly, func(tx pgx.Tx) error {
		var err error
		out.RunSummary, err = scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+`, r.error FROM ingest_runs r
			WHERE r.run_id = $1`, id), &runErr)
		if err != nil {
			return err
		}
		out.Datasets, err = readDatasets(ctx, tx, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return RunDetail{}, ErrNotFound
	}
	if err == nil && runErr != nil {
		err = json.Unmarshal(runErr, &out.Error)
	}
	return out, err
}
