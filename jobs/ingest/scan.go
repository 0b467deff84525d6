package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

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
}

// NewScanner reads records from r, the decompressed text of one file.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, buf: make([]byte, 256<<10), line: 1, keepFrom: -1, digest: xxhash.New()}
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

func (s *Scanner) hashTo(i int) {
	if abs := s.base + int64(i); abs > s.hashedTo {
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

// start detects encoding and shape (docs/data.md#1-files-and-framing), and skips to a resume point.
func (s *Scanner) start() bool {
	s.need(4)
	if s.err != nil {
		return false
	}
	head := s.buf[s.pos:s.end]
	if enc := unsupportedEncoding(head); enc != "" {
		return s.fail(0, "unsupported encoding: "+enc+"; only UTF-8 is accepted")
	}
	if bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}) {
		s.pos += 3
	}
	lineStart := s.pos
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case '\n':
				s.pos++
				lineStart = s.pos
				continue
			case ' ', '\t', '\r':
				s.pos++
				continue
			}
			goto found
		}
		// An NDJSON record starts at its line's start: keep the line
		// through the refill, unless it is over maxRecordBytes of
		// whitespace (-1: not kept, see found).
		if lineStart >= 0 && s.pos-lineStart > maxRecordBytes {
			lineStart = -1
		}
		s.keepFrom = lineStart
		more := s.fill()
		lineStart, s.keepFrom = s.keepFrom, -1
		if !more {
			if s.err != nil {
				return false
			}
			if s.resumeFrom != nil && s.resumeFrom.Index > 0 {
				s.err = ErrPrefixChanged // records were read from it before
				return false
			}
			s.shape, s.state = ShapeEmpty, stDone
			return false
		}
	}
found:
	if lineStart < 0 || s.pos-lineStart > maxRecordBytes {
		// Memory stays bounded: more than maxRecordBytes of whitespace
		// before the first record on its line is not part of the record.
		lineStart = s.pos
	}
	switch s.buf[s.pos] {
	case '[':
		s.shape, s.state = ShapeArray, stArrayFirst
		s.pos++
	case '{':
		s.shape, s.state = ShapeNDJSON, stNDJSON
		s.pos = lineStart
	default:
		return s.fail(s.pos, errNotJSONRecords)
	}
	if s.resumeFrom != nil {
		return s.skipTo(*s.resumeFrom)
	}
	return true
}

// skipTo consumes input up to cp, checking it is the input cp was taken on.
func (s *Scanner) skipTo(cp Checkpoint) bool {
	if cp.Offset == 0 && cp.Index == 0 {
		return true // taken before anything was read
	}
	for s.base+int64(s.end) < cp.Offset {
		s.pos = s.end
		if !s.fill() {
			if s.err == nil {
				s.err = ErrPrefixChanged
			}
			return false
		}
	}
	s.pos = int(cp.Offset - s.base)
	if c := s.Checkpoint(); c.Digest != cp.Digest || c.Line != cp.Line {
		s.err = ErrPrefixChanged
		return false
	}
	s.index = cp.Index
	if s.shape == ShapeArray && cp.Index > 0 {
		s.state = stArrayNext
	}
	s.sawRecord = cp.Index > 0
	return true
}

// unsupportedEncoding names a UTF-16 or UTF-32 encoding recognised by its
// byte-order mark or by NUL bytes among the first four.
func unsupportedEncoding(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x00, 0x00, 0xFE, 0xFF}):
		return "UTF-32BE"
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return "UTF-32LE"
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return "UTF-16BE"
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return "UTF-16LE"
	}
	h := head[:min(4, len(head))]
	if bytes.IndexByte(h, 0) < 0 {
		return ""
	}
	switch {
	case len(h) == 4 && h[0] == 0 && h[1] == 0 && h[2] == 0:
		return "UTF-32BE"
	case len(h) == 4 && h[1] == 0 && h[2] == 0 && h[3] == 0:
		return "UTF-32LE"
	case h[0] == 0:
		return "UTF-16BE"
	case len(h) > 1 && h[1] == 0:
		return "UTF-16LE"
	default:
		return "NUL bytes (UTF-16 or UTF-32)"
	}
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

// nextElement reads the next element of the top-level array.
func (s *Scanner) nextElement() bool {
	if !s.skipWSBuffered() {
		if s.err != nil {
			return false
		}
		return s.fail(s.pos, "unexpected end of input: the top-level array is not closed")
	}
	c := s.buf[s.pos]
	if s.state == stArrayNext {
		switch c {
		case ',':
			s.pos++
			if !s.skipWSBuffered() {
				if s.err != nil {
					return false
				}
				return s.fail(s.pos, "unexpected end of input, expected an array element")
			}
			if s.buf[s.pos] == ']' {
				return s.fail(s.pos, "invalid character ']' after ',', expected an array element (trailing comma)")
			}
		case ']':
			return s.endArray()
		default:
			return s.fail(s.pos, fmt.Sprintf("invalid character %s after array element, expected ',' or ']'", quoteChar(c)))
		}
	} else if c == ']' {
		return s.endArray()
	}
	if s.buf[s.pos] == ',' {
		return s.fail(s.pos, "invalid character ',' looking for beginning of value")
	}
	s.state = stArrayNext
	start := s.pos
	s.recPos = Position{Index: s.index, Line: s.lineAt(start), Offset: s.base + int64(start)}
	end, ok := s.elementEnd()
	if !ok {
		return false
	}
	if s.truncated == nil && end-s.keepFrom > maxRecordBytes {
		// Its end was in the buffer before the size check in elementEnd.
		s.truncated = append([]byte(nil), s.buf[s.keepFrom:s.keepFrom+truncatedRecordBytes]...)
		s.keepFrom = -1
	}
	if s.truncated != nil {
		s.problem = reasonRecordTooLarge
		return true
	}
	start = s.keepFrom
	s.keepFrom = -1
	s.rec = s.buf[start:end]
	if err := s.v.validate(s.rec); err != nil {
		msg := err.msg
		if msg == "invalid UTF-8" {
			msg = "invalid UTF-8: a JSON array cannot be read past it"
		}
		return s.fail(start+err.at, msg)
	}
	if s.v.tooDeep {
		s.problem = reasonRecordTooLarge
	}
	return true
}

// endArray consumes ']' and checks that only whitespace follows.
func (s *Scanner) endArray() bool {
	s.pos++
	s.state = stDone
	if s.skipWSBuffered() {
		return s.fail(s.pos, "trailing data after top-level array")
	}
	return false
}

// structural marks the bytes that matter when matching brackets outside
// strings.
var structural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// elementEnd finds where the element starting at buf[pos] ends by matching
// brackets outside strings, buffering it unless it grows past
// maxRecordBytes; the grammar is checked afterwards on the whole element.
// It leaves pos at the end and keepFrom at the start of a buffered element.
func (s *Scanner) elementEnd() (int, bool) {
	s.keepFrom = s.pos
	depth, inString, escaped := 0, false, false
	scalar := s.buf[s.pos] != '{' && s.buf[s.pos] != '['
	quoted := s.buf[s.pos] == '"'
	i := s.pos
	if quoted {
		inString = true
		i++
	}
	for {
		for i < s.end {
			if inString {
				// Jump to the closing quote, or to the next escape before it.
				if escaped {
					escaped = false
					i++
					continue
				}
				rest := s.buf[i:s.end]
				q := bytes.IndexByte(rest, '"')
				body := rest
				if q >= 0 {
					body = rest[:q]
				}
				if e := bytes.IndexByte(body, '\\'); e >= 0 {
					i += e + 1
					escaped = true
					continue
				}
				if q < 0 {
					i = s.end
					continue
				}
				i += q + 1
				inString = false
				if quoted {
					s.pos = i
					return i, true
				}
				continue
			}
			c := s.buf[i]
			if scalar {
				switch c {
				case ' ', '\t', '\r', '\n', ',', ']':
					s.pos = i
					return i, true
				}
				i++
				continue
			}
			if !structural[c] {
				i++
				for i < s.end && !structural[s.buf[i]] {
					i++
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos = i + 1
					return s.pos, true
				}
			}
			i++
		}
		s.pos = i
		if s.keepFrom >= 0 && s.pos-s.keepFrom > maxRecordBytes {
			s.truncated = append([]byte(nil), s.buf[s.keepFrom:s.keepFrom+truncatedRecordBytes]...)
			s.keepFrom = -1
		}
		if !s.fill() {
			if s.err != nil {
				return 0, false
			}
			return 0, s.fail(s.pos, "unexpected end of input inside an array element: the file is truncated")
		}
		i = s.pos
	}
}

// nextLine reads the next non-blank NDJSON line.
func (s *Scanner) nextLine() bool {
	for {
		if s.pos >= s.end && !s.fill() {
			s.state = stDone
			return false
		}
		start := s.pos
		s.keepFrom = start
		nl := -1
		for {
			if k := bytes.IndexByte(s.buf[s.pos:s.end], '\n'); k >= 0 {
				nl = s.pos + k
				break
			}
			s.pos = s.end
			// One byte more than the cap: the line may end in "\r\n".
			if s.keepFrom >= 0 && s.pos-s.keepFrom > maxRecordBytes+1 {
				s.truncated = append([]byte(nil), s.buf[s.keepFrom:s.keepFrom+truncatedRecordBytes]...)
				s.recPos = Position{Index: s.index, Line: s.lineAt(s.keepFrom), Offset: s.base + int64(s.keepFrom)}
				s.keepFrom = -1
			}
			if !s.fill() {
				if s.err != nil {
					return false
				}
				break
			}
		}
		lineEnd := s.end
		if nl >= 0 {
			lineEnd = nl
			s.pos = nl + 1
		} else {
			s.pos = s.end
		}
		if s.truncated != nil {
			s.problem = reasonRecordTooLarge
			s.sawRecord = true
			return true
		}
		start = s.keepFrom
		s.keepFrom = -1
		line := s.buf[start:lineEnd]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		s.recPos = Position{Index: s.index, Line: s.lineAt(start), Offset: s.base + int64(start)}
		if len(line) > maxRecordBytes {
			// Its end was in the buffer before the size check above.
			s.truncated = append([]byte(nil), line[:truncatedRecordBytes]...)
			s.problem = reasonRecordTooLarge
			s.sawRecord = true
			return true
		}
		if skipWS(line, 0) == len(line) {
			continue // blank lines are not records
		}
		s.rec = line
		first := !s.sawRecord
		s.sawRecord = true
		switch {
		case !utf8.Valid(line):
			s.problem = reasonInvalidUTF8
		case s.v.validate(line) != nil:
			if first {
				// Not one value per line: likely a pretty-printed object.
				return s.fail(start, errNotJSONRecords+" (the first line is not one complete JSON value)")
			}
			s.problem = reasonMalformedJSON
		case s.v.tooDeep:
			s.problem = reasonRecordTooLarge
		}
		return true
	}
}
