// Package ingest streams the three JSON datasets into PostgreSQL: each file
// is scanned record by record with bounded memory, every record is validated
// against docs/data.md, and accepted records are written with binary COPY in
// batches, each committed together with the checkpoint that lets a crashed
// run resume exactly once. Bad records become rejects, written beside the
// run, and never stop it.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runner carries one run.
type runner struct {
	pool     *pgxpool.Pool
	opts     Options
	log      logr.Logger
	free     chan *batch
	progress *Progress

	mu     sync.Mutex
	totals counts // across datasets, as committed
}

// Run loads the inputs. It returns the run's report, also when the run
// failed; the error says why it failed.
func Run(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Report, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	if err := opts.checkInputsExist(); err != nil {
		return nil, err
	}
	// Each worker holds a connection while it waits for its turn to
	// commit, and the run holds one for its lock: with fewer connections
	// the worker whose turn it is could wait for one forever.
	if most := int(pool.Config().MaxConns) - 1; opts.Workers > most {
		if most < 1 {
			return nil, errors.New("the connection pool needs at least 2 connections")
		}
		opts.Log.Info("fewer workers than asked: the connection pool is smaller", "workers", most, "asked", opts.Workers)
		opts.Workers = most
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	r := &runner{pool: pool, opts: opts, log: opts.Log.WithValues("run", opts.RunID),
		free: make(chan *batch, 2*opts.Workers+2), progress: opts.Progress}
	return r.run(ctx)
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	report := &Report{RunID: r.opts.RunID, StartedAt: time.Now().UTC(), RejectsDir: filepath.Join(r.opts.RejectsDir, r.opts.RunID)}
	unlock, err := r.lockRun(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := r.startRun(ctx); err != nil {
		return nil, err
	}

	var runErr error
	anyInput := false
	for _, ds := range LoadOrder {
		files := r.opts.Inputs[ds]
		if len(files) == 0 {
			continue
		}
		dr, err := r.loadDataset(ctx, datasets[ds], files)
		report.Datasets = append(report.Datasets, *dr)
		if dr.Status != statusSkipped {
			anyInput = true
		}
		if err != nil {
			runErr = err
			break
		}
	}
	if runErr == nil && !anyInput {
		runErr = ErrNoInput
	}
	report.FinishedAt = time.Now().UTC()
	report.Status = statusSucceeded
	if runErr != nil {
		report.Status = statusFailed
		report.Error = describeFailure(runErr)
	}
	if err := r.finishRun(context.WithoutCancel(ctx), report); err != nil && runErr == nil {
		runErr = err
	}
	return report, runErr
}

// loadDataset loads one dataset's files after what earlier attempts of the
// run committed.
func (r *runner) loadDataset(ctx context.Context, def *datasetDef, locations []string) (*DatasetReport, error) {
	log := r.log.WithValues("dataset", def.name)
	rejectsPath := filepath.Join(r.opts.RejectsDir, r.opts.RunID, string(def.name)+".rejects.ndjson")
	dr := &DatasetReport{Dataset: def.name, Files: locations, Status: statusFailed, RejectsFile: rejectsPath}
	files, rejectsSize, err := r.loadCheckpoints(ctx, def, locations)
	if err != nil {
		return dr, err
	}
	sink, err := openRejectsSink(rejectsPath, rejectsSize)
	if err != nil {
		return dr, err
	}
	defer sink.close()
	if _, err := r.pool.Exec(ctx, `UPDATE ingest_run_datasets SET status = 'running' WHERE run_id = $1 AND dataset = $2`,
		r.opts.RunID, string(def.name)); err != nil {
		return dr, fmt.Errorf("record dataset start: %w", err)
	}

	l := newLoader(r.pool, def, r.opts.RunID, sink, rejectsSize, r.opts.Retries, log)
	l.group = r.opts.Group
	l.failpoint = r.opts.failpoint
	l.afterCommit = func(b *batch, got counts) error { return r.committed(def, b, got) }
	if def.name == Shipments {
		// The cache only saves lookups: without it the load is slower,
		// not wrong.
		start := time.Now()
		if l.logs, err = preloadLogs(ctx, r.pool, r.opts.LogCache, pendingRecords(files)); err != nil {
			log.Error(err, "vehicle logs not cached: every shipment's log is looked up")
		}
		defer l.logs.close() // after the workers stop
		if l.logs != nil {
			log.Info("vehicle logs cached", "logs", l.logs.len(), "elapsed", time.Since(start).String())
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, r.opts.Workers)
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(func() {
			for b := range batches {
				if err := l.load(ctx, b); err != nil {
					l.fail(err)
					cancel()
					for range batches { // let the reader finish
					}
					return
				}
				select {
				case r.free <- b:
				default:
				}
			}
		})
	}

	emit := func(b *batch) error {
		l.register(b)
		select {
		case batches <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var readErr error
	var seq int64
	present := 0
	for _, f := range files {
		if f.done {
			present++
			continue
		}
		warning, err := r.readFile(ctx, def, f, &seq, emit)
		switch {
		case errors.Is(err, errNotFound):
			dr.Warnings = append(dr.Warnings, fmt.Sprintf("%s does not exist: skipped", f.location))
			log.Info("input file missing, skipped", "file", f.location)
			continue
		case err != nil:
			readErr = err
		}
		present++
		if warning != "" {
			dr.Warnings = append(dr.Warnings, warning)
			log.Info("input file holds no records", "file", f.location)
		}
		if readErr != nil {
			break
		}
	}
	close(batches)
	wg.Wait()

	var total counts
	for _, f := range files {
		total.add(f.counts)
	}
	dr.setCounts(total)
	loadErr := l.err()
	switch {
	case loadErr != nil:
		dr.Error = describeFailure(loadErr)
	case readErr != nil && !errors.Is(readErr, context.Canceled):
		dr.Error = describeFailure(readErr)
		loadErr = readErr
	case readErr != nil:
		loadErr = readErr
	case present == 0:
		dr.Status = statusSkipped
	case total.read > 0 && total.loaded == 0 && total.duplicates == 0:
		loadErr = fmt.Errorf("%s: %w, %d of %d (%s): is this the right file for %s?", def.name, ErrAllRejected,
			total.rejected, total.read, topReasons(total.byReason, 3), def.name)
		dr.Error = describeFailure(loadErr)
	default:
		dr.Status = statusSucceeded
	}
	if err := r.saveDataset(context.WithoutCancel(ctx), dr); err != nil && loadErr == nil {
		loadErr = err
	}
	if loadErr != nil {
		log.Error(loadErr, "dataset failed")
	}
	return dr, loadErr
}

// topReasons lists the n most frequent reject reasons with their counts,
// most frequent first: "missing_field 300022, unknown_log 3".
func topReasons(byReason map[string]int64, n int) string {
	reasons := slices.Collect(maps.Keys(byReason))
	slices.SortFunc(reasons, func(a, b string) int {
		if c := cmp.Compare(byReason[b], byReason[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, n)
	for _, r := range reasons[:min(n, len(reasons))] {
		parts = append(parts, r+" "+strconv.FormatInt(byReason[r], 10))
	}
	return strings.Join(parts, ", ")
}

// committed runs after each batch commits, in order.
func (r *runner) committed(def *datasetDef, b *batch, got counts) error {
	r.mu.Lock()
	r.totals.add(got)
	read, rejected := r.totals.read, r.totals.rejected
	r.mu.Unlock()
	r.progress.committed(def.name, b.file.location, b.rawEnd, got)
	if r.opts.Metrics != nil {
		r.opts.Metrics.observe(def.name, got)
	}
	if r.opts.MaxRejects.exceeded(read, rejected) {
		return fmt.Errorf("%w: %d of %d records read so far were rejected, more than --max-rejects %s allows",
			ErrTooManyRejects, rejected, read, r.opts.MaxRejects)
	}
	return nil
}
