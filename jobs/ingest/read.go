package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/haul-dev/haul/internal/radixsort"
)

// maxBatchBytes bounds a batch's buffered source text, whatever its record
// count, so memory stays bounded when records are large.
const maxBatchBytes = 16 << 20

// readFile scans one input into batches handed to emit, numbered from *seq.
// It returns a warning for an input that is empty, errNotFound for a missing
// local file, and a *FileError (wrapped with the file) when the file cannot
// be read further.
func (r *runner) readFile(ctx context.Context, def *datasetDef, f *inputFile, seq *int64, emit func(*batch) error) (string, error) {
	src, err := openSource(ctx, r.opts.HTTPClient, r.opts.SourceTimeout, f.location)
	if errors.Is(err, errNotFound) {
		return "", err
	}
	if err != nil {
		return "", &fileFailure{file: f.location, err: err}
	}
	defer src.Close()
	r.progress.startFile(def.name, f.location, src.rawRead, src.rawSize)

	sc := NewScanner(src.r)
	if f.resume != nil {
		sc.Resume(*f.resume)
	}
	p := newParser(def)
	var keys radixsort.Sorter
	b := r.newBatch(*seq, f)
	send := func(last bool) error {
		b.last = last
		b.rawEnd = src.rawRead.Load()
		b.sealKeys(&keys)
		if err := emit(b); err != nil {
			return err
		}
		*seq++
		b = r.newBatch(*seq, f)
		return nil
	}
	for sc.Next() {
		r.opts.failpoint("record-read")
		b.counts.read++
		pos := sc.Pos()
		if reason := sc.Problem(); reason != "" {
			rec := sc.Record()
			if rec == nil {
				rec = sc.Truncated()
			}
			b.reject(rejectRec{pos: pos, reason: reason, msg: scanProblemMessage(reason, sc.Record() == nil),
				record: r.keep(b, rec), truncated: sc.Record() == nil})
		} else {
			rec := sc.Record()
			start := len(b.rows)
			var prob *problem
			b.rows, prob = p.parse(rec, sc.IsObject(), sc.members(), b.rows, &b.arena)
			switch {
			case prob != nil:
				b.rows = b.rows[:start]
				b.reject(rejectRec{pos: pos, reason: prob.reason, field: prob.field, msg: prob.msg, record: r.keep(b, rec)})
			default:
				b.hashes = append(b.hashes, xxhash.Sum64(b.rows[start+def.key].str))
				b.pos = append(b.pos, pos)
				b.raw = append(b.raw, r.keep(b, rec))
			}
		}
		sc.markCheckpoint()
		if b.counts.read >= int64(r.opts.BatchSize) || len(b.arena) >= maxBatchBytes {
			b.cp = sc.markedCheckpoint()
			if err := send(false); err != nil {
				return "", err
			}
		}
	}
	if err := sc.Err(); err != nil {
		var fe *FileError
		if errors.As(err, &fe) && src.gzipped && strings.HasPrefix(fe.Msg, "read:") {
			fe.Msg += " (the gzip stream is truncated or corrupt; the offset counts decompressed bytes)"
		}
		return "", &fileFailure{file: f.location, err: err}
	}
	if b.counts.read == 0 {
		b.cp = sc.Checkpoint()
	} else {
		b.cp = sc.markedCheckpoint() // after the batch's last record
	}
	if err := send(true); err != nil {
		return "", err
	}
	if sc.index == 0 {
		return fmt.Sprintf("%s holds no records", f.location), nil
	}
	return "", nil
}

// keep copies a record's text into the batch's arena.
func (r *runner) keep(b *batch, rec []byte) []byte {
	start := len(b.arena)
	b.arena = append(b.arena, rec...)
	return b.arena[start:len(b.arena):len(b.arena)]
}

func scanProblemMessage(reason string, truncated bool) string {
	switch reason {
	case reasonMalformedJSON:
		return "line is not one complete JSON value"
	case reasonInvalidUTF8:
		return "line holds bytes that are not valid UTF-8"
	case reasonRecordTooLarge:
		if truncated {
			return fmt.Sprintf("record is larger than %d bytes; only its first %d bytes are kept here", maxRecordBytes, truncatedRecordBytes)
		}
		return fmt.Sprintf("record nests deeper than %d levels", maxDepth)
	}
	return reason
}

func (r *runner) newBatch(seq int64, f *inputFile) *batch {
	var b *batch
	select {
	case b = <-r.free:
	default:
		b = &batch{}
	}
	b.reset(seq, f)
	return b
}
