package ingest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// rejectRec is one rejected record, kept until its batch commits.
type rejectRec struct {
	pos       Position
	reason    string
	field     string
	msg       string
	record    []byte // source text, or the head of an oversized record
	truncated bool
}

// rejectLine is the JSON form of a reject (docs/data.md#6-rejects).
type rejectLine struct {
	Run             string  `json:"run"`
	Dataset         Dataset `json:"dataset"`
	File            string  `json:"file"`
	Index           int64   `json:"index"`
	Line            int64   `json:"line"`
	Offset          int64   `json:"offset"`
	Reason          string  `json:"reason"`
	Field           *string `json:"field"`
	Message         string  `json:"message"`
	Record          *string `json:"record,omitempty"`
	RecordBase64    *string `json:"record_base64,omitempty"`
	RecordTruncated bool    `json:"record_truncated,omitempty"`
}

// appendRejectLine encodes r as one NDJSON line.
func appendRejectLine(dst []byte, run string, ds Dataset, file string, r *rejectRec) []byte {
	line := rejectLine{
		Run: run, Dataset: ds, File: file,
		Index: r.pos.Index, Line: r.pos.Line, Offset: r.pos.Offset,
		Reason: r.reason, Message: r.msg, RecordTruncated: r.truncated,
	}
	if r.field != "" {
		line.Field = &r.field
	}
	if utf8.Valid(r.record) {
		s := string(r.record)
		line.Record = &s
	} else {
		s := base64.StdEncoding.EncodeToString(r.record)
		line.RecordBase64 = &s
	}
	b, err := json.Marshal(line)
	if err != nil {
		// Every field is a plain string or number: cannot happen.
		panic(fmt.Sprintf("encode reject: %v", err))
	}
	return append(append(dst, b...), '\n')
}

// rejectsSink appends reject lines to a dataset's rejects file from its own
// goroutine, through a bounded queue: a slow disk holds back the committing
// workers, never drops a line. Each write reports the file's length after
// it, which the batch's checkpoint records so that a resumed run cuts off
// lines of batches that never committed instead of repeating them.
type rejectsSink struct {
	path  string
	queue chan sinkJob
	done  chan struct{}
}

type sinkJob struct {
	// truncate, when >= 0, first cuts the file to that length (a retried
	// batch takes back what its failed attempt wrote).
	truncate int64
	lines    []byte
	reply    chan sinkResult
}

type sinkResult struct {
	size int64
	err  error
}

// openRejectsSink opens (creating) path and cuts it to size: the length
// recorded by the last committed checkpoint.
func openRejectsSink(path string, size int64) (*rejectsSink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create rejects folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open rejects file: %w", err)
	}
	// A file already of that length needs no cut (and a device, such as
	// /dev/null for rejects nobody keeps, cannot be cut).
	if fi, statErr := f.Stat(); statErr != nil || fi.Size() != size {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("cut rejects file %s to its checkpoint (%d bytes): %w", path, size, err)
		}
	}
	s := &rejectsSink{path: path, queue: make(chan sinkJob, 4), done: make(chan struct{})}
	go s.loop(f, size)
	return s, nil
}

func (s *rejectsSink) loop(f *os.File, size int64) {
	defer close(s.done)
	defer f.Close()
	for job := range s.queue {
		var err error
		if job.truncate >= 0 && job.truncate != size {
			if err = f.Truncate(job.truncate); err == nil {
				size = job.truncate
			}
		}
		if err == nil && len(job.lines) > 0 {
			var n int
			n, err = f.WriteAt(job.lines, size)
			size += int64(n)
			if err == nil {
				// The batch commits next: its rejects must survive a crash.
				err = f.Sync()
			}
		}
		if err != nil {
			err = fmt.Errorf("write rejects file %s: %w", s.path, err)
		}
		job.reply <- sinkResult{size: size, err: err}
	}
}

// write appends lines after cutting the file to truncate (if >= 0) and
// returns the file's length after them.
func (s *rejectsSink) write(truncate int64, lines []byte) (int64, error) {
	reply := make(chan sinkResult, 1)
	s.queue <- sinkJob{truncate: truncate, lines: lines, reply: reply}
	r := <-reply
	return r.size, r.err
}

func (s *rejectsSink) close() {
	close(s.queue)
	<-s.done
}
