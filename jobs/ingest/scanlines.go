package ingest

import (
	"bytes"
	"unicode/utf8"
)

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
		// A line the grammar accepts whole is valid UTF-8, so only a line
		// it does not accept needs the UTF-8 check, which comes first.
		err := s.v.validate(line)
		switch {
		case (err != nil || s.v.tooDeep) && !utf8.Valid(line):
			s.problem = reasonInvalidUTF8
		case err != nil:
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
