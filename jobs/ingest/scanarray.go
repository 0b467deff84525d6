package ingest

import (
	"bytes"
	"fmt"
)

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
	if s.objectInBuffer() {
		return true
	}
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

// objectInBuffer is the one-pass path for the usual element: an object
// that lies whole in the buffer, is well-formed and not too large or deep.
// Checking its grammar from buf[pos] finds its end where elementEnd would
// (brackets outside strings match exactly when the grammar holds), so it
// makes it the record without elementEnd's pass over the same bytes. For
// anything else it leaves the scanner as it was and returns false, and
// elementEnd and the grammar check decide, as they always do.
//
// It is not tried near the end of the buffered input, where the object is
// likely cut off: a failed try costs its pass and an error value.
func (s *Scanner) objectInBuffer() bool {
	start := s.pos
	if s.buf[start] != '{' || s.lookahead < 0 || (!s.eof && s.end-start < max(s.lookahead, 2*s.lastObject)) {
		return false
	}
	end, ok := s.v.validateObject(s.buf[start:s.end])
	if !ok || end > maxRecordBytes {
		return false
	}
	s.pos = start + end
	s.rec = s.buf[start:s.pos]
	s.lastObject = end
	return true
}

// minObjectLookahead is how much buffered input objectInBuffer wants at
// least before it tries, unless the input ends there: more than most
// records hold.
const minObjectLookahead = 4 << 10

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
