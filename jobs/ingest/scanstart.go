package ingest

import "bytes"

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
