package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/backoff"
)

// loader commits one dataset's batches. Several workers stage batches at
// once, each on its own connection, but batches commit strictly in input
// order, so the committed part of a file is always a prefix of it and its
// checkpoint is the checkpoint of the last committed batch. A batch that
// shares a key with an earlier batch still in flight waits for it to commit
// before staging, so the earliest record of a key wins whatever the number of
// workers (docs/data.md#45-duplicates-and-re-delivery) and in-flight batches never wait on each other's
// row locks.
type loader struct {
	pool  *pgxpool.Pool
	def   *datasetDef
	runID string
	// group marks the vehicles this load stores: a vehicle stored by
	// another group is replaced, one of the same group is not (docs/data.md#45-duplicates-and-re-delivery).
	group   string
	sink    *rejectsSink
	retries int
	// firstWait is the wait before the first retry of a batch; it doubles
	// for each retry up to maxRetryWait.
	firstWait time.Duration
	log       logr.Logger
	// afterCommit is called in commit order; an error stops the load.
	afterCommit func(*batch, counts) error
	failpoint   func(string)
	// marked holds the days this load already recorded as touched; only
	// the committing batch reads or writes it.
	marked map[int64]struct{}

	mu          sync.Mutex
	cond        *sync.Cond
	nextCommit  int64
	inflight    map[int64]*batch
	failed      error
	rejectsSize int64 // the rejects file's length after the last commit

	namesMu sync.Mutex
	names   map[string]string // see vehicleName

	// logs, when set, resolves shipments' logs before PostgreSQL does.
	logs *logCache

	// encoders keeps the COPY buffers of batches done (*pgcopy.Encoder) for
	// the next: a new one for each batch was zeroed and grown each time.
	encoders sync.Pool
}

func newLoader(pool *pgxpool.Pool, def *datasetDef, runID string, sink *rejectsSink, rejectsSize int64, retries int, log logr.Logger) *loader {
	l := &loader{
		pool: pool, def: def, runID: runID, sink: sink, retries: retries, firstWait: time.Second, log: log,
		inflight: map[int64]*batch{}, rejectsSize: rejectsSize, failpoint: func(string) {},
		marked: map[int64]struct{}{}, names: map[string]string{},
	}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// fail stops the load with err (the first one wins).
func (l *loader) fail(err error) {
	l.mu.Lock()
	if l.failed == nil {
		l.failed = err
	}
	l.mu.Unlock()
	l.cond.Broadcast()
}

func (l *loader) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// waitTurn blocks until every batch before seq has committed.
func (l *loader) waitTurn(seq int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.nextCommit != seq && l.failed == nil {
		l.cond.Wait()
	}
	return l.failed
}

// register marks b as in flight. The reader calls it as it hands batches
// out, in input order, so a worker always sees every earlier batch that has
// not committed yet, whichever worker took it.
func (l *loader) register(b *batch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight[b.seq] = b
}

// conflicts reports whether b shares a key with an earlier batch that has
// not committed.
func (l *loader) conflicts(b *batch) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for seq, e := range l.inflight {
		if seq < b.seq && sharesKey(b.hashes, e.hashes) {
			return true
		}
	}
	return false
}

// errBisect asks for the batch to be retried one record at a time where
// PostgreSQL refuses it.
var errBisect = errors.New("batch refused by PostgreSQL: isolating the records")

// errKeysExist asks for the batch to be staged again looking up its keys.
var errKeysExist = errors.New("batch holds keys loaded before: looking them up")

// mode is how a batch is staged.
type mode struct {
	lookupKeys bool // look up the batch's keys among stored rows
	bisect     bool // COPY in halves around refused records
}

// maxRetryWait caps the wait between two attempts of a batch: with
// MaxRetries, a batch waits at most a few minutes in all.
const maxRetryWait = 30 * time.Second

// load commits b, retrying transient failures; it returns an error when the
// load must stop.
func (l *loader) load(ctx context.Context, b *batch) error {
	if l.conflicts(b) {
		if err := l.waitTurn(b.seq); err != nil {
			return err
		}
	}
	// Logs and shipments first try without looking up their own keys: on
	// a fresh load none exists, and a key that does makes the COPY fail
	// with a unique violation, after which the batch is staged again with
	// the lookup. Vehicles always look: a stored one may be replaced.
	m := mode{lookupKeys: l.def.name == Vehicles}
	retry := backoff.New(l.firstWait, maxRetryWait)
	for attempt := 0; ; attempt++ {
		err := l.attempt(ctx, b, m)
		if err == nil {
			return nil
		}
		if errors.Is(err, errBisect) && !m.bisect {
			m.bisect = true
			attempt--
			continue
		}
		if errors.Is(err, errKeysExist) && !m.lookupKeys {
			m.lookupKeys = true
			attempt--
			continue
		}
		if ctx.Err() != nil || l.err() != nil {
			return err
		}
		if !isTransient(err) || attempt >= l.retries {
			return fmt.Errorf("load %s records %d-%d of %s (line %d onwards): %w", l.def.name,
				b.cp.Index-b.counts.read, b.cp.Index-1, b.file.location, firstLine(b), err)
		}
		delay := retry.Next()
		l.log.Info("retrying batch after a transient database error", "dataset", l.def.name,
			"file", b.file.location, "attempt", attempt+1, "delay", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

func firstLine(b *batch) int64 {
	line := b.cp.Line
	if len(b.pos) > 0 {
		line = b.pos[0].Line
	}
	if len(b.rejects) > 0 && b.rejects[0].pos.Line < line {
		line = b.rejects[0].pos.Line
	}
	return line
}

func (l *loader) attempt(ctx context.Context, b *batch, m mode) (err error) {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	st, err := l.stage(ctx, tx, b, m)
	if err != nil {
		return err
	}
	l.failpoint("batch-staged")
	if err := l.waitTurn(b.seq); err != nil {
		return err
	}
	return l.commit(ctx, tx, b, st)
}
