package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/runstore"
)

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
		runstore.QueueMarkDays(q, l.runID, dates)
	}
	if st.batch != 0 && len(st.loaded) > 0 {
		q.Queue(markBatchSQL, st.batch, len(st.loaded))
	}
	runstore.QueueCheckpoint(q, l.runID, string(l.def.name), &runstore.FileCheckpoint{
		FileIndex: b.file.index, File: b.file.location,
		Offset: b.cp.Offset, Index: b.cp.Index, Line: b.cp.Line, Digest: int64(b.cp.Digest), RejectsBytes: size,
		Read: total.read, Loaded: total.loaded, Duplicates: total.duplicates, Rejected: total.rejected,
		RejectedByReason: total.byReason, Done: b.last,
	}, b.file.committedIndex)
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
	index, done, err := runstore.CheckpointIndex(ctx, l.pool, l.runID, string(l.def.name), b.file.index)
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
