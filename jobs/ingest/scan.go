package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

// Shape is a file's framing, decided by its first non-whitespace byte
// (docs/data.md#1-files-and-framing).
type Shape int

// The shapes.
const (
	ShapeUnknown Shape = iota
	ShapeEmpty         // nothing but whitespace
	ShapeArray         // one top-level JSON array
	ShapeNDJSON        // one JSON value per line
)

func (s Shape) String() string {
	return [...]string{"unknown", "empty", "array", "ndjson"}[s]
}

// Record-level problems the scanner finds (reject reasons of docs/data.md#6-rejects).
const (
	reasonMalformedJSON  = "malformed_json"
	reasonInvalidUTF8    = "invalid_utf8"
	reasonRecordTooLarge = "record_too_large"
)

// maxRecordBytes caps the source text of one record (docs/data.md#15-streaming-and-limits).
const maxRecordBytes = 1 << 20

// truncatedRecordBytes is how much of an oversized record a reject keeps.
const truncatedRecordBytes = 1 << 10

// errNotJSONRecords is the file-level error for a file that is neither.
const errNotJSONRecords = "expected a JSON array or NDJSON objects"

// ErrPrefixChanged says a resumed file no longer starts with the bytes an
// earlier attempt consumed (docs/data.md#92-file-level-cases, F15).
var ErrPrefixChanged = errors.New("the file changed since the run's last checkpoint: its already-loaded part differs")

// Position locates a record in the decompressed text of its file.
type Position struct {
	Index  int64 // 0-based among the file's records
	Line   int64 // 1-based line where the record starts
	Offset int64 // byte offset where the record starts
}

// FileError is a problem that makes the rest of a file unreadable.
type FileError struct {
	Offset, Line int64
	Msg          string
	// cause is the reader's error behind a "read:" failure.
	cause error
}

func (e *FileError) Unwrap() error { return e.cause }

func (e *FileError) Error() string {
	return fmt.Sprintf("line %d, byte offset %d: %s", e.Line, e.Offset, e.Msg)
}

// Checkpoint is a point between two records from which a scanner can resume.
type Checkpoint struct {
	Offset, Line, Index int64
	// Digest is the xxhash64 of the file's first Offset bytes.
	Digest uint64
}

type scanState int

const (
	stStart      scanState = iota
	stArrayFirst           // after '['
	stArrayNext            // after an element
	stNDJSON
	stDone
)

// Scanner splits decompressed input into records, checking framing and JSON
// syntax as it goes, with memory bounded by maxRecordBytes whatever the
// input's size. It follows pgx's CopyFromSource shape: Next, then the
// record's accessors, then Err.
type Scanner struct {
	r          io.Reader
	buf        []byte
	pos, end   int   // unread data is buf[pos:end]
	base       int64 // absolute offset of buf[0]
	line       int64 // line number at buf[linesAt]
	linesAt    int
	eof        bool
	err        error
	shape      Shape
	state      scanState
	index      int64
	sawRecord  bool // NDJSON: a non-blank line was seen
	resumeFrom *Checkpoint
	digest     *xxhash.Digest
	hashedTo   int64 // absolute offset hashed so far
	keepFrom   int   // buf index the current record starts at, or -1
	v          validator
	rec        []byte
	truncated  []byte // the head of an oversized record
	recPos     Position
	problem    string

	// mark is the point markCheckpoint noted; markPending says its Digest
	// is still to be taken, when hashing passes its Offset.
	mark        Checkpoint
	markPending bool
	// lastObject is the length of the last object objectInBuffer read;
	// lookahead is the buffered input it wants at least before it tries
	// (minObjectLookahead; tests set 0 to always try, or -1 never to).
	lastObject, lookahead int
}

// NewScanner reads records from r, the decompressed text of one file.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, buf: make([]byte, 256<<10), line: 1, keepFrom: -1, digest: xxhash.New(), lookahead: minObjectLookahead}
}

// Resume makes s continue after cp, once it has checked that the input
// still starts with the bytes cp covered. Call before the first Next.
func (s *Scanner) Resume(cp Checkpoint) { s.resumeFrom = &cp }

// Shape is the file's framing, known after the first Next.
func (s *Scanner) Shape() Shape { return s.shape }

// Next advances to the next record. It returns false at the end of the input
// or on a file-level error (see Err).
func (s *Scanner) Next() bool {
	if s.err != nil || s.state == stDone {
		return false
	}
	s.rec, s.truncated, s.problem = nil, nil, ""
	if s.state == stStart {
		if !s.start() {
			return false
		}
	}
	var ok bool
	if s.shape == ShapeArray {
		ok = s.nextElement()
	} else {
		ok = s.nextLine()
	}
	if ok {
		s.index++
	}
	return ok
}

// Record is the current record's source text, valid until the next call to
// Next; nil for an oversized record (see Truncated).
func (s *Scanner) Record() []byte { return s.rec }

// Truncated is the head of an oversized record, which is never buffered whole.
func (s *Scanner) Truncated() []byte { return s.truncated }

// Pos is where the current record starts.
func (s *Scanner) Pos() Position { return s.recPos }

// Problem is the reject reason the framing found for the current record
// (malformed_json, invalid_utf8, record_too_large), or "" for a well-formed
// JSON value whose members Members lists.
func (s *Scanner) Problem() string { return s.problem }

// members are the top-level members of the current record when it is an
// object without problems, as offsets into Record.
func (s *Scanner) members() []member { return s.v.members }

// IsObject reports whether the current well-formed record is an object.
func (s *Scanner) IsObject() bool {
	b := s.rec[skipWS(s.rec, 0):]
	return len(b) > 0 && b[0] == '{'
}

// Err is the file-level error that stopped the scanner, or nil.
func (s *Scanner) Err() error { return s.err }

// Checkpoint is the point after the current record.
func (s *Scanner) Checkpoint() Checkpoint {
	s.hashTo(s.pos)
	return Checkpoint{Offset: s.base + int64(s.pos), Line: s.lineAt(s.pos), Index: s.index, Digest: s.digest.Sum64()}
}

// markCheckpoint notes the point after the current record without hashing
// up to it; markedCheckpoint gives its Checkpoint later. The digest is taken
// when hashing reaches the point anyway (a refill, or markedCheckpoint), so
// the input is hashed in large pieces rather than record by record.
func (s *Scanner) markCheckpoint() {
	s.mark = Checkpoint{Offset: s.base + int64(s.pos), Line: s.lineAt(s.pos), Index: s.index}
	s.markPending = true
}

// markedCheckpoint is the Checkpoint of the point markCheckpoint last noted:
// what Checkpoint returned there.
func (s *Scanner) markedCheckpoint() Checkpoint {
	if s.markPending {
		s.hashTo(int(s.mark.Offset - s.base))
	}
	return s.mark
}

// BytesRead is how much decompressed input was read so far.
func (s *Scanner) BytesRead() int64 { return s.base + int64(s.end) }

func (s *Scanner) fail(at int, msg string) bool {
	s.err = &FileError{Offset: s.base + int64(at), Line: s.lineAt(at), Msg: msg}
	return false
}

// lineAt is the line number at buf[i], for i at or after linesAt.
func (s *Scanner) lineAt(i int) int64 {
	if i > s.linesAt {
		s.line += int64(bytes.Count(s.buf[s.linesAt:i], []byte{'\n'}))
		s.linesAt = i
	}
	return s.line
}

// hashTo hashes the input up to buf[i], taking a pending mark's digest on
// the way.
func (s *Scanner) hashTo(i int) {
	abs := s.base + int64(i)
	if s.markPending && s.mark.Offset <= abs {
		_, _ = s.digest.Write(s.buf[s.hashedTo-s.base : s.mark.Offset-s.base])
		s.hashedTo = s.mark.Offset
		s.mark.Digest, s.markPending = s.digest.Sum64(), false
	}
	if abs > s.hashedTo {
		_, _ = s.digest.Write(s.buf[s.hashedTo-s.base : i])
		s.hashedTo = abs
	}
}

// fill reads more input, keeping buf[keepFrom:] if a record is being
// buffered, else buf[pos:]. It returns false at the end of input or on a read
// error (then s.err is set).
func (s *Scanner) fill() bool {
	if s.eof {
		return false
	}
	keep := s.pos
	if s.keepFrom >= 0 && s.keepFrom < keep {
		keep = s.keepFrom
	}
	if keep > 0 {
		s.hashTo(keep)
		s.lineAt(keep)
		n := copy(s.buf, s.buf[keep:s.end])
		s.base += int64(keep)
		s.pos -= keep
		s.end = n
		s.linesAt -= keep
		if s.keepFrom >= 0 {
			s.keepFrom -= keep
		}
	}
	if s.end == len(s.buf) {
		// Only a record being buffered fills the buffer; it is at most
		// maxRecordBytes before the caller gives up buffering it.
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
			return n > 0
		}
		if err != nil {
			s.err = &FileError{Offset: s.base + int64(s.end), Line: s.lineAt(s.end), Msg: "read: " + err.Error(), cause: err}
			return false
		}
		if n > 0 {
			return true
		}
	}
}

// need makes at least n unread bytes available unless the input ends.
func (s *Scanner) need(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return s.end-s.pos >= n
		}
	}
	return true
}

// skipWSBuffered skips whitespace, reading more as needed. It returns false
// at the end of input.
func (s *Scanner) skipWSBuffered() bool {
	for {
		s.pos = skipWS(s.buf[:s.end], s.pos)
		if s.pos < s.end {
			return true
		}
		if !s.fill() {
			return false
		}
	}
}
