package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/backoff"
	"github.com/haul-dev/haul/internal/pgcopy"
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

// staged is what staging decided for a batch's accepted rows.
type staged struct {
	loaded     []int // rows written
	replace    []string
	duplicates int64
	rejects    []rejectRec // in row order
	days       map[int64]struct{}
	refs       map[string]logRef
	// cached holds, for shipments, the log of each row of the batch that
	// the cache of logs holds; a row's vehicle is empty when it does not.
	cached []logRef
	// rowRefs holds, for shipments, the log of each row in loaded.
	rowRefs []logRef
	// batch numbers the rows written, for the aggregate refresh; 0 when
	// the dataset's rows are not numbered.
	batch int64
}

// refOf is the log of loaded row i.
func (st *staged) refOf(i int) logRef {
	k, _ := slices.BinarySearch(st.loaded, i)
	return st.rowRefs[k]
}

type logRef struct {
	day     int64
	vehicle string
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

// stage checks the batch against stored rows and writes what is new.
func (l *loader) stage(ctx context.Context, tx pgx.Tx, b *batch, m mode) (*staged, error) {
	def, nf := l.def, len(l.def.fields)
	rows := len(b.pos)
	st := &staged{days: map[int64]struct{}{}}
	if rows == 0 {
		return st, nil
	}
	var keys, refKeys []string
	if m.lookupKeys {
		keys = make([]string, rows)
		for i := range rows {
			keys[i] = string(b.row(i, nf)[def.key].str)
		}
	}
	if l.logs != nil {
		st.cached = make([]logRef, rows)
	}
	if def.ref >= 0 {
		refKeys = make([]string, 0, rows)
		for i := range rows {
			ref := b.row(i, nf)[def.ref].str
			if st.cached != nil {
				var ok bool
				if st.cached[i], ok = l.logs.get(ref); ok {
					continue
				}
			}
			refKeys = append(refKeys, string(ref))
		}
	}
	existing, err := l.lookup(ctx, tx, keys, refKeys, st, m.lookupKeys)
	if err != nil {
		return nil, err
	}

	// The first occurrence of a key wins: the stored row, else the first
	// row of the batch that loads. Later ones are duplicates when their
	// values are the same, else rejected; only a vehicle stored by an
	// earlier run is replaced (docs/data.md#45-duplicates-and-re-delivery). Rows of the batch join the
	// winners only when the batch may hold a key twice.
	for i := range rows {
		r := b.row(i, nf)
		if m.lookupKeys || b.repeats {
			key := string(r[def.key].str)
			if w, ok := existing[key]; ok {
				switch {
				case rowsEqual(def, r, w.row):
					st.duplicates++
					continue
				case def.name == Vehicles && w.run != l.group:
					st.replace = append(st.replace, key)
				default:
					st.rejects = append(st.rejects, dbReject(b, i, "duplicate_key", def.fields[def.key].name,
						fmt.Sprintf("%s %q was loaded already with different values", def.fields[def.key].name, key)))
					continue
				}
			}
			if !l.resolve(b, i, r, st) {
				continue
			}
			existing[key] = winner{row: r, run: l.group}
		} else if !l.resolve(b, i, r, st) {
			continue
		}
		st.loaded = append(st.loaded, i)
	}

	if len(st.replace) > 0 {
		if _, err := tx.Exec(ctx, deleteVehiclesSQL, st.replace); err != nil {
			return nil, fmt.Errorf("replace vehicles: %w", err)
		}
	}
	if len(st.loaded) == 0 {
		return st, nil
	}
	if slices.Contains(extraColumns[def.name], "load_batch") {
		if err := tx.QueryRow(ctx, nextBatchSQL).Scan(&st.batch); err != nil {
			return nil, fmt.Errorf("number the batch: %w", err)
		}
	}
	if !m.bisect {
		if err := l.copyRows(ctx, tx, b, st, st.loaded); err != nil {
			if isUniqueViolation(err) && !m.lookupKeys {
				return nil, errKeysExist
			}
			if isDataError(err) {
				return nil, errBisect
			}
			return nil, err
		}
		return st, nil
	}
	loaded, err := l.copyBisect(ctx, tx, b, st, st.loaded)
	if err != nil {
		return nil, err
	}
	st.loaded = loaded
	slices.SortFunc(st.rejects, func(a, b rejectRec) int { return int(a.pos.Index - b.pos.Index) })
	return st, nil
}

// resolve checks row i's reference, noting the day it touches and the log
// it rides; false means it was rejected.
func (l *loader) resolve(b *batch, i int, r []value, st *staged) bool {
	def := l.def
	switch def.name {
	case VehicleLogs:
		if _, ok := st.refs[string(r[def.ref].str)]; !ok {
			break
		}
		st.days[r[2].i] = struct{}{}
		return true
	case Shipments:
		var ref logRef
		if st.cached != nil {
			ref = st.cached[i]
		}
		ok := ref.vehicle != ""
		if !ok {
			ref, ok = st.refs[string(r[def.ref].str)]
		}
		if !ok {
			break
		}
		st.days[ref.day] = struct{}{}
		st.rowRefs = append(st.rowRefs, ref)
		return true
	default:
		return true
	}
	st.rejects = append(st.rejects, dbReject(b, i, def.refReason, def.fields[def.ref].name,
		fmt.Sprintf("%s %q names no loaded %s", def.fields[def.ref].name, r[def.ref].str, refTarget(def))))
	return false
}

func refTarget(def *datasetDef) string {
	if def.name == VehicleLogs {
		return "vehicle"
	}
	return "vehicle log"
}

func dbReject(b *batch, i int, reason, field, msg string) rejectRec {
	return rejectRec{pos: b.pos[i], reason: reason, field: field, msg: msg, record: b.raw[i]}
}

// lookup fetches, in one round trip, the stored rows with the batch's keys
// and the rows its references name.
func (l *loader) lookup(ctx context.Context, tx pgx.Tx, keys, refKeys []string, st *staged, lookupKeys bool) (map[string]winner, error) {
	def := l.def
	q := &pgx.Batch{}
	// Batches of one load never wait on each other's locks (see loader);
	// a lock held elsewhere for this long fails the batch instead of
	// hanging the run.
	q.Queue(`SET LOCAL lock_timeout = '60s'`)
	// A batch's keys are a sliver of a large table, but the planner,
	// costing the first executions with the actual array, may scan the
	// whole table (in parallel) instead of probing its key index.
	q.Queue(`SET LOCAL enable_seqscan = off`)
	if lookupKeys {
		q.Queue(def.existingSQL(), keys)
	}
	if len(refKeys) > 0 {
		q.Queue(refSQL[def.name], refKeys)
	}
	br := tx.SendBatch(ctx, q)
	defer br.Close()

	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("set lookup settings: %w", err)
		}
	}
	existing := map[string]winner{}
	if lookupKeys {
		if err := l.readExisting(br, existing); err != nil {
			return nil, err
		}
	}
	if len(refKeys) > 0 {
		if err := l.readRefs(br, st, len(refKeys)); err != nil {
			return nil, err
		}
	}
	return existing, nil
}

func (l *loader) readExisting(br pgx.BatchResults, existing map[string]winner) error {
	def := l.def
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("look up stored %s: %w", def.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fmt.Errorf("read stored %s: %w", def.name, err)
		}
		row := make([]value, len(def.fields))
		for i := range def.fields {
			row[i] = valueFromDB(vals[i])
		}
		w := winner{row: row}
		if def.name == Vehicles {
			w.run, _ = vals[len(def.fields)].(string)
		}
		existing[string(row[def.key].str)] = w
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up stored %s: %w", def.name, err)
	}
	return nil
}

// readRefs reads the references the batch's rows name. It decodes the raw
// values itself and copies the keys in one allocation: this runs once per
// shipment, and Scan with a string per key took a fifth of haul's CPU.
func (l *loader) readRefs(br pgx.BatchResults, st *staged, n int) error {
	def := l.def
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("look up references of %s: %w", def.name, err)
	}
	defer rows.Close()
	binaryDay := rows.FieldDescriptions()[1].Format == pgx.BinaryFormatCode
	var (
		arena []byte
		ends  []int
		refs  []logRef
	)
	for rows.Next() {
		raw := rows.RawValues()
		ref := logRef{}
		if raw[1] != nil {
			day, err := decodeDay(raw[1], binaryDay)
			if err != nil {
				return fmt.Errorf("read references of %s: %w", def.name, err)
			}
			ref.day = day
		}
		if raw[2] != nil {
			ref.vehicle = l.vehicleName(raw[2])
		}
		arena = append(arena, raw[0]...)
		ends = append(ends, len(arena))
		refs = append(refs, ref)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up references of %s: %w", def.name, err)
	}
	keys := string(arena)
	st.refs = make(map[string]logRef, n)
	start := 0
	for i, end := range ends {
		st.refs[keys[start:end]] = refs[i]
		start = end
	}
	return nil
}

// decodeDay reads a date column as days since pgEpoch.
func decodeDay(raw []byte, binaryFormat bool) (int64, error) {
	if binaryFormat {
		if len(raw) != 4 {
			return 0, fmt.Errorf("binary date of %d bytes", len(raw))
		}
		return int64(int32(binary.BigEndian.Uint32(raw))), nil
	}
	t, err := time.Parse(time.DateOnly, string(raw))
	if err != nil {
		return 0, fmt.Errorf("date %q: %w", raw, err)
	}
	return int64(t.Sub(pgEpoch).Hours()) / 24, nil
}

// vehicleName returns name as a string shared by every log of the vehicle:
// a fleet has far fewer vehicles than logs.
func (l *loader) vehicleName(name []byte) string {
	l.namesMu.Lock()
	defer l.namesMu.Unlock()
	if v, ok := l.names[string(name)]; ok {
		return v
	}
	v := string(name)
	if len(l.names) < maxVehicleNames {
		l.names[v] = v
	}
	return v
}

// maxVehicleNames bounds the names a load keeps.
const maxVehicleNames = 1 << 16

// winner is the row that holds a key: stored, or loaded earlier in the
// batch; run is the run that loaded it (vehicles only).
type winner struct {
	row []value
	run string
}

func valueFromDB(v any) value {
	switch x := v.(type) {
	case string:
		return value{str: []byte(x)}
	case float64:
		return value{num: x}
	case int32:
		return value{i: int64(x)}
	case time.Time:
		return value{i: int64(x.Sub(pgEpoch).Hours()) / 24}
	}
	return value{}
}

func rowsEqual(def *datasetDef, a, b []value) bool {
	for i, f := range def.fields {
		if !a[i].equal(b[i], f.kind) {
			return false
		}
	}
	return true
}

// copyRows writes rows idx of b with one binary COPY.
func (l *loader) copyRows(ctx context.Context, tx pgx.Tx, b *batch, st *staged, idx []int) error {
	def, nf := l.def, len(l.def.fields)
	var enc pgcopy.Encoder
	enc.Grow(len(b.arena) + len(idx)*(8+nf*12))
	enc.Reset()
	extra := len(extraColumns[def.name])
	group := []byte(l.group)
	for _, i := range idx {
		r := b.row(i, nf)
		enc.Row(nf + extra)
		for fi, f := range def.fields {
			encodeField(&enc, f.kind, r[fi])
		}
		switch def.name {
		case Vehicles:
			enc.Text(group)
		case VehicleLogs:
			enc.Int8(st.batch)
		case Shipments:
			ref := st.refOf(i)
			enc.Int4(int32(ref.day))
			enc.String(ref.vehicle)
			enc.Int8(st.batch)
		}
	}
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(enc.Finish()), def.copySQL()); err != nil {
		return fmt.Errorf("copy into %s: %w", def.table, err)
	}
	return nil
}

// copyBisect writes rows idx, splitting them around records PostgreSQL
// refuses; each refused record becomes a database_rejected reject.
func (l *loader) copyBisect(ctx context.Context, tx pgx.Tx, b *batch, st *staged, idx []int) ([]int, error) {
	if _, err := tx.Exec(ctx, "SAVEPOINT haul_copy"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	err := l.copyRows(ctx, tx, b, st, idx)
	if err == nil {
		_, err = tx.Exec(ctx, "RELEASE SAVEPOINT haul_copy")
		return idx, err
	}
	if !isDataError(err) {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT haul_copy"); err != nil {
		return nil, fmt.Errorf("rollback to savepoint: %w", err)
	}
	if len(idx) == 1 {
		var pgErr *pgconn.PgError
		errors.As(err, &pgErr)
		st.rejects = append(st.rejects, dbReject(b, idx[0], "database_rejected", pgErr.ColumnName,
			"PostgreSQL refused the record: "+pgErr.Message))
		return nil, nil
	}
	half := len(idx) / 2
	left, err := l.copyBisect(ctx, tx, b, st, idx[:half])
	if err != nil {
		return nil, err
	}
	right, err := l.copyBisect(ctx, tx, b, st, idx[half:])
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

// commit writes the batch's rejects, days and checkpoint, and commits; the
// caller holds the turn.
func (l *loader) commit(ctx context.Context, tx pgx.Tx, b *batch, st *staged) error {
	rejects := mergeRejects(b.rejects, st.rejects)
	var lines []byte
	for i := range rejects {
		lines = appendRejectLine(lines, l.runID, l.def.name, b.file.location, &rejects[i])
	}
	size, err := l.sink.write(l.rejectsSize, lines)
	if err != nil {
		return err
	}
	if len(lines) > 0 {
		l.failpoint("rejects-written")
	}

	got := b.counts.clone()
	got.loaded = int64(len(st.loaded))
	got.duplicates += st.duplicates
	for _, r := range st.rejects {
		got.rejected++
		if got.byReason == nil {
			got.byReason = map[string]int64{}
		}
		got.byReason[r.reason]++
	}
	total := b.file.counts.clone()
	total.add(got)

	q := &pgx.Batch{}
	var days []int64
	for d := range st.days {
		if _, ok := l.marked[d]; !ok {
			days = append(days, d)
		}
	}
	if len(days) > 0 {
		// In date order, so that concurrent runs marking the same days
		// take their row locks in the same order and cannot deadlock.
		slices.Sort(days)
		dates := make([]time.Time, len(days))
		for i, d := range days {
			dates[i] = dateOf(d)
		}
		q.Queue(markDaysSQL, l.runID, dates)
	}
	if st.batch != 0 && len(st.loaded) > 0 {
		q.Queue(markBatchSQL, st.batch)
	}
	byReason := total.byReason
	if byReason == nil {
		byReason = map[string]int64{}
	}
	q.Queue(upsertCheckpointSQL, l.runID, string(l.def.name), b.file.index, b.file.location,
		b.cp.Offset, b.cp.Index, b.cp.Line, int64(b.cp.Digest), size,
		total.read, total.loaded, total.duplicates, total.rejected, byReason, b.last, b.file.committedIndex)
	if err := l.sendCheckpoint(ctx, tx, q, q.Len()-1, b); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		committed, checkErr := l.committedAnyway(context.WithoutCancel(ctx), b)
		if checkErr != nil || !committed {
			return fmt.Errorf("commit: %w", err)
		}
	}

	l.failpoint("batch-committed")
	for _, d := range days {
		l.marked[d] = struct{}{}
	}
	l.mu.Lock()
	b.file.counts = total
	b.file.done = b.last
	b.file.committedIndex = b.cp.Index
	l.rejectsSize = size
	l.nextCommit = b.seq + 1
	delete(l.inflight, b.seq)
	l.mu.Unlock()
	l.cond.Broadcast()
	if l.afterCommit != nil {
		if err := l.afterCommit(b, got); err != nil {
			l.fail(err)
			return err
		}
	}
	return nil
}

// sendCheckpoint runs the batch's bookkeeping, q: marks statements that
// queue its days and rows for the aggregate refresh, then its checkpoint,
// which must replace the file's last one.
func (l *loader) sendCheckpoint(ctx context.Context, tx pgx.Tx, q *pgx.Batch, marks int, b *batch) error {
	br := tx.SendBatch(ctx, q)
	defer br.Close()
	for range marks {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("queue the batch for the aggregate refresh: %w", err)
		}
	}
	var one int
	err := br.QueryRow().Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("run %s, %s file %d: %w", l.runID, l.def.name, b.file.index, ErrConcurrentWriter)
	}
	if err != nil {
		return fmt.Errorf("record checkpoint: %w", err)
	}
	return br.Close()
}

// committedAnyway tells whether a commit whose reply was lost took effect.
func (l *loader) committedAnyway(ctx context.Context, b *batch) (bool, error) {
	var index int64
	var done bool
	err := l.pool.QueryRow(ctx, checkpointIndexSQL, l.runID, string(l.def.name), b.file.index).Scan(&index, &done)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// Each batch but a file's empty last one moves the index; that one
	// alone sets done.
	return index == b.cp.Index && done == b.last, nil
}

func mergeRejects(a, b []rejectRec) []rejectRec {
	if len(b) == 0 {
		return a
	}
	out := make([]rejectRec, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && a[i].pos.Index < b[j].pos.Index) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

// isTransient tells errors worth retrying: lost or refused connections,
// server shutdowns, serialization failures, and a key another process wrote
// in the meantime (a retry sees it and settles the record as a duplicate).
func isTransient(err error) bool {
	// A local file that cannot be written (the rejects file on a full
	// disk) fails the same way again, and so does a lost race for the run.
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) || errors.Is(err, ErrConcurrentWriter) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "53300", "57P01", "57P02", "57P03", "23505":
			return true
		}
		return len(pgErr.Code) >= 2 && pgErr.Code[:2] == "08"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// Anything else below SQL (connect failures, resets, EOF) is the
	// connection, not the data.
	return true
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isDataError tells a refusal of the data itself (data exceptions and
// constraint violations other than a concurrent duplicate key).
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	class := pgErr.Code[:2]
	return class == "22" || (class == "23" && pgErr.Code != "23505")
}
