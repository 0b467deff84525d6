// Package precalc keeps the aggregates the API reads up to date with the raw
// tables: a refresh adds the rows loaded since the last one (delta.go), or
// rebuilds everything when that is cheaper (rebuild.go), in one transaction,
// and bumps the data version (docs/api.md#4-aggregate-refresh).
// Listen runs refreshes as loads complete.
package precalc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/db"
)

// Options tune a refresh.
type Options struct {
	// Full rebuilds every aggregate from the raw tables instead of adding
	// the rows loaded since the last refresh.
	Full bool
	Log  logr.Logger
	// Metrics, if set, records the refresh (metrics.go).
	Metrics *Metrics
}

// Result describes one refresh.
type Result struct {
	// Refreshed is false when there was nothing to do: no day touched and
	// no run completed since the last refresh.
	Refreshed bool      `json:"refreshed"`
	Version   int64     `json:"version"`
	Full      bool      `json:"full"`
	Days      int       `json:"days"`
	Runs      []string  `json:"runs"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
}

// Duration is how long the refresh took.
func (r Result) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Refresh brings the aggregates up to date, once. It waits for a refresh
// already running elsewhere to finish first, then does what is left. A full
// rebuild (opts.Full, or the first build) takes two of pool's connections.
func Refresh(ctx context.Context, pool *pgxpool.Pool, opts Options) (Result, error) {
	started := time.Now()
	res, err := refresh(ctx, pool, opts)
	opts.Metrics.observe(res, err, time.Since(started))
	return res, err
}

func refresh(ctx context.Context, pool *pgxpool.Pool, opts Options) (Result, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("connect: %w", err)
	}
	healthy := false
	defer func() {
		if !healthy {
			// The session may still hold the lock; a closed one does not.
			_ = conn.Conn().Close(context.Background())
		}
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, db.PrecalcLockID); err != nil {
		return Result{}, fmt.Errorf("wait for the refresh lock: %w", err)
	}
	res, err := refreshLocked(ctx, pool, conn.Conn(), opts)
	if err != nil && ctx.Err() == nil && !isConnectionLost(err) {
		if _, ferr := conn.Exec(ctx, failedSQL, oneLine(err)); ferr != nil {
			opts.Log.Error(ferr, "record refresh failure")
		}
	}
	if _, uerr := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, db.PrecalcLockID); uerr == nil {
		healthy = true
	}
	return res, err
}

func refreshLocked(ctx context.Context, pool *pgxpool.Pool, conn *pgx.Conn, opts Options) (Result, error) {
	res := Result{Full: opts.Full, Started: time.Now().UTC()}
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return execAll(ctx, tx, claimSQL, opts.Log.V(2)) }); err != nil {
		return res, fmt.Errorf("claim touched days: %w", err)
	}
	var days, batches int64
	var version int64
	var legacy bool
	if err := conn.QueryRow(ctx, claimedSQL).Scan(&days, &res.Runs, &version, &batches, &legacy); err != nil {
		return res, fmt.Errorf("read claim: %w", err)
	}
	if !opts.Full && days == 0 && batches == 0 && len(res.Runs) == 0 {
		res.Version = version
		opts.Log.V(1).Info("aggregates up to date", "version", version)
		return res, nil
	}
	// The first version is built whole: nothing is there to update; so are
	// days queued before rows were numbered by batch (migration 00006).
	res.Full = opts.Full || version == 0 || legacy
	log := opts.Log.WithValues("claimedDays", days, "batches", batches, "runs", res.Runs)
	log.Info("refresh started", "full", res.Full)

	var err error
	if !res.Full {
		err = refreshDelta(ctx, conn, &res, log)
		if errors.Is(err, errFullIsCheaper) {
			res.Full, err = true, nil
		}
	}
	if err == nil && res.Full {
		err = rebuild(ctx, pool, conn, &res, log)
	}
	if err != nil {
		return res, fmt.Errorf("refresh aggregates: %w", err)
	}
	res.Refreshed = true
	res.Finished = res.Finished.UTC()
	log.Info("refresh done", "full", res.Full, "version", res.Version, "days", res.Days,
		"seconds", res.Duration().Seconds())
	return res, nil
}

// errFullIsCheaper ends an incremental refresh that would cost more than a
// full rebuild.
var errFullIsCheaper = errors.New("a full rebuild is cheaper")

// refreshDelta adds what the queued batches loaded to the rollups (delta.go),
// in one transaction, unless a full rebuild is cheaper (errFullIsCheaper).
func refreshDelta(ctx context.Context, conn *pgx.Conn, res *Result, log logr.Logger) error {
	// One snapshot for every statement, so that the batches it consumes are
	// the ones whose rows it read.
	return pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		if err := tune(ctx, tx); err != nil {
			return err
		}
		if err := runSteps(ctx, tx, []step{{name: "claim batches", stmts: claimBatchesSQL}}, log); err != nil {
			return err
		}
		// Staging the new rows costs about what adding them does: a load
		// that makes the full path cheaper is seen from the queue first.
		var est costEstimate
		var counted bool
		if err := tx.QueryRow(ctx, queuedCostSQL).Scan(&est.added, &counted, &est.total, &est.shipments); err != nil {
			return fmt.Errorf("estimate refresh cost: %w", err)
		}
		if counted && est.fullIsCheaper() {
			log.Info("refresh takes the full path", "newRows", est.added, "totalRows", est.total+est.added,
				"countedFrom", "queue")
			return errFullIsCheaper
		}
		d := newDeltaRows(est.added)
		if err := runSteps(ctx, tx, []step{{name: "read new rows", run: d.read}}, log); err != nil {
			return err
		}
		est.added, est.oldLogs = d.rows(), d.oldLogs > 0
		if err := tx.QueryRow(ctx, `SELECT `+aggregatedRowsSQL).Scan(&est.total, &est.shipments); err != nil {
			return fmt.Errorf("estimate refresh cost: %w", err)
		}
		if est.fullIsCheaper() {
			log.Info("refresh takes the full path", "newRows", est.added, "totalRows", est.total+est.added,
				"countedFrom", "staged rows")
			return errFullIsCheaper
		}
		var deltas int
		if err := tx.QueryRow(ctx, deltasSinceRebuildSQL).Scan(&deltas); err != nil {
			return fmt.Errorf("count refreshes since the rebuild: %w", err)
		}
		if err := runSteps(ctx, tx, deltaSteps(deltas+1 > maxSegments, d), log); err != nil {
			return err
		}
		res.Days = len(d.days)
		return tx.QueryRow(ctx, recordRefreshSQL, res.Started, false, res.Days).Scan(&res.Version, &res.Finished)
	})
}

// costEstimate sizes the two ways to refresh, in rows: added, the rows of
// the queued batches; total and shipments, every row and every shipment
// aggregated so far; oldLogs, whether new shipments ride logs loaded
// before, which costs a scan of every shipment.
type costEstimate struct {
	added, total, shipments int64
	oldLogs                 bool
}

// Relative costs of the two paths, in tenths of what a full rebuild spends
// on a row, plus its fixed cost (new tables, index builds, the swap).
// Measured at 10M shipments (2 cores, load average 1.4), after loads of 1M,
// 2M and 3M shipments with their logs over every day, each path forced:
// the incremental one took 11.7, 17.4 and 26.9 s (5.8-7.8 µs a new row),
// the full one 43.4, 49.2 and 46.3 s (2.4-2.7 µs a row): a new row costs
// 2.2-3.0 rebuilt ones. It is weighed at five: the incremental path's
// memory grows with the new rows (its hash tables: 1.8 GB of RSS for the
// 3M shipments, against about 0.4 GB for a rebuild), so a load of more
// than about a quarter of the data is rebuilt although adding it would be
// faster. A small load costs more a row (100k shipments: 1.4 s, 9 µs a
// row), but far less than the full path either way. Since the route days
// are appended (delta.go), new rows on old days cost no more than on new
// ones.
const (
	deltaRowCost  = 50 // a new row, grouped and added to each rollup and grain
	scanRowCost   = 2  // a shipment read by the scan for old logs
	fullRowCost   = 10
	fullFixedRows = 300_000
)

// fullIsCheaper says whether a full rebuild costs less than adding the new
// rows: after a load of about a quarter of what is there, or more.
func (e costEstimate) fullIsCheaper() bool {
	delta := deltaRowCost * e.added
	if e.oldLogs {
		delta += scanRowCost * e.shipments
	}
	return delta > fullRowCost*(e.total+e.added+fullFixedRows)
}

type step struct {
	name  string
	stmts []string
	// run, if set, runs after stmts.
	run func(context.Context, pgx.Tx, logr.Logger) error
}

// deltaSteps lists the statements of an incremental refresh after the new
// rows are read into d, in order; merge: whether a key may need its
// segments merged.
func deltaSteps(merge bool, d *deltaRows) []step {
	pairs := routeVehicleSteps{delta: d}
	days := shipDaysSteps{delta: d}
	sums := sumSteps{delta: d, merge: merge}
	appendSegments := func(a segmentAppend) func(context.Context, pgx.Tx, logr.Logger) error {
		return func(ctx context.Context, tx pgx.Tx, log logr.Logger) error { return a.run(ctx, tx, d, log) }
	}
	steps := []step{
		{name: "stage deltas", run: d.stage},
		{name: "first carriers", run: days.stage},
		// The new pairs are counted, and the sums added up, while the
		// segments are appended.
		{name: "new route vehicles", run: pairs.stage},
		{name: "add up sums", run: sums.add},
		{name: "route days", run: appendSegments(segmentAppends.routeDays)},
		{name: "vehicle routes", run: appendSegments(segmentAppends.vehicleRoutes)},
		{name: "route vehicles", run: appendSegments(segmentAppends.routeVehicles)},
		{name: "vehicle days", run: appendSegments(segmentAppends.vehicleDays)},
		{name: "new route vehicles counted", run: pairs.wait},
		{name: "stage sums", run: sums.stage},
		{name: "route totals", run: sums.addRouteTotals},
		{name: "totals", stmts: []string{totalsTable.upsertSQL()}},
		{name: "vehicles", run: sums.addVehiclePeriods},
		{name: "vehicle names", stmts: []string{vehicleInfoSQL}},
	}
	if merge {
		steps = append(steps, step{name: "merge segments", stmts: mergeSegmentsSQL})
	}
	return append(steps, step{name: "publish", stmts: append(publishSQL, publishDeltaSQL), run: func(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
		if err := pairs.write(ctx, tx, log); err != nil {
			return err
		}
		return days.write(ctx, tx, log)
	}})
}

// refreshMemory is what a refresh's transaction gives each sort, hash and
// index build. A full rebuild sorts far more than this; its sorts then run
// in pieces that are merged, which at 10M shipments was an eighth faster
// than with 1GB (medians of 4 and 3 runs), as the two lanes share the
// CPUs' caches and memory bandwidth.
const refreshMemory = "256MB"

// compressSQL makes the transaction compress what it stores out of line
// with lz4 where the server has it (built --with-lz4, as Debian's packages
// and the official images are); else it keeps pglz. The arrays of the
// route and vehicle route rollups are most of what a rebuild writes, and
// compressing them with pglz took a rebuild at 10M shipments from 52 s to
// 85 s, for arrays 8% smaller.
const compressSQL = `SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings
WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)`

// tune sets the transaction's memory for sorts, hashes and index builds,
// and its compression (compressSQL).
func tune(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, compressSQL); err != nil {
		return fmt.Errorf("set the compression: %w", err)
	}
	// Parallel partial aggregation only adds work here: nearly every
	// (day, route, delivery time) group is distinct, so the workers'
	// partial groups are as many as the rows they read.
	for _, set := range []string{"work_mem = '" + refreshMemory + "'", "maintenance_work_mem = '" + refreshMemory + "'",
		"max_parallel_workers_per_gather = 0"} {
		if _, err := tx.Exec(ctx, "SET LOCAL "+set); err != nil {
			return fmt.Errorf("set %s: %w", set, err)
		}
	}
	return nil
}

// execer runs statements: a transaction, or a connection outside one.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// runSteps runs steps in order, logging each one's duration.
func runSteps(ctx context.Context, tx pgx.Tx, steps []step, log logr.Logger) error {
	for _, s := range steps {
		t := time.Now()
		if err := execAll(ctx, tx, s.stmts, log.V(2)); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if s.run != nil {
			if err := s.run(ctx, tx, log); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
		log.V(1).Info("refresh step done", "step", s.name, "seconds", time.Since(t).Seconds())
	}
	return nil
}

// execAll runs statements in order; detail logs each one's duration.
func execAll(ctx context.Context, tx execer, stmts []string, detail logr.Logger) error {
	for _, s := range stmts {
		t := time.Now()
		tag, err := tx.Exec(ctx, s)
		if err != nil {
			return err
		}
		if detail.Enabled() {
			detail.Info("refresh statement done", "statement", firstLine(s), "rows", tag.RowsAffected(),
				"seconds", time.Since(t).Seconds())
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Stale reports whether the aggregates lag the committed data: a day
// touched, or a run completed, that no served version includes.
func Stale(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (bool, error) {
	var stale bool
	if err := q.QueryRow(ctx, staleSQL).Scan(&stale); err != nil {
		return false, fmt.Errorf("check for stale aggregates: %w", err)
	}
	return stale, nil
}

// isConnectionLost says whether err means the session is gone, so nothing
// can be recorded through it.
func isConnectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, context.Canceled)
}

// oneLine is the failure as shown to API clients while nothing is servable
// (docs/api.md#311-get-apisystemstatus): one line, the server's message without the statement.
func oneLine(err error) string {
	msg := err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg = fmt.Sprintf("database error %s: %s", pgErr.Code, pgErr.Message)
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	const limit = 300
	if len(msg) > limit {
		msg = strings.ToValidUTF8(msg[:limit], "")
	}
	return "aggregate refresh failed: " + msg
}
