package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/haul-dev/haul/internal/testutil"
)

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("json.Compact(%q): %v", b, err)
	}
	return out.String()
}

// isJSONSpace reports whether b is all JSON whitespace.
func isJSONSpace(b []byte) bool { return skipWS(b, 0) == len(b) }

var validatorSeeds = []string{
	`{}`,
	`[]`,
	` {"a": 1, "b": [true, false, null], "c": {"d": "e\u00e9\n"}, "a": -0.5e+10} `,
	`{"a\"b\\c": 1, "\u0041": "\ud800", "é": "日本"}`,
	`"caf` + "\xe9" + `"`,
	"\"\xed\xa0\x80\"",
	`{"a": 1,}`,
	`[1,]`,
	`{"a" 1}`,
	`{a: 1}`,
	`{'a': 1}`,
	`{"a": NaN}`,
	`01`,
	`1.`,
	`-`,
	`1e+`,
	`nul`,
	`"\uZZZZ"`,
	"\"\x01\"",
	`{"a":1} x`,
	"\xef\xbb\xbf{}",
	strings.Repeat("[", 64) + strings.Repeat("]", 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65),
	strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64),
	strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65),
	strings.Repeat("[", 65) + "x",
}

// FuzzValidator: validate never panics, agrees with encoding/json on valid
// UTF-8 input, rejects invalid UTF-8, reports depth over maxDepth, and
// records the top-level members encoding/json's decoder sees.
func FuzzValidator(f *testing.F) {
	for _, s := range validatorSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v validator
		err := v.validate(b)
		if err != nil && (err.at < 0 || err.at > len(b)) {
			t.Fatalf("validate(%q): error %q at %d, outside the input", b, err.msg, err.at)
		}
		valid := utf8.Valid(b) && json.Valid(b)
		if v.tooDeep {
			if err != nil {
				t.Errorf("validate(%q): tooDeep and error %q; want one or the other", b, err.msg)
			}
			if valid && testutil.JSONDepth(b) <= maxDepth {
				t.Errorf("validate(%q): tooDeep, but its depth is %d", b, testutil.JSONDepth(b))
			}
			return // no verdict on the syntax
		}
		switch {
		case err == nil && !valid:
			t.Fatalf("validate(%q) accepted it; encoding/json.Valid = %t, utf8.Valid = %t", b, json.Valid(b), utf8.Valid(b))
		case err != nil && valid && testutil.JSONDepth(b) <= maxDepth:
			t.Fatalf("validate(%q) = %q at %d; encoding/json accepts it", b, err.msg, err.at)
		case err != nil && valid:
			t.Fatalf("validate(%q) = %q; want tooDeep for depth %d", b, err.msg, testutil.JSONDepth(b))
		case err != nil:
			return
		}
		top := b[skipWS(b, 0)]
		if top != '{' {
			if len(v.members) != 0 {
				t.Errorf("validate(%q): %d members for a value that is not an object", b, len(v.members))
			}
			return
		}
		checkMembers(t, b, v.members)
	})
}

// checkMembers compares the members recorded for the object b with the
// keys and values encoding/json's token stream gives.
func checkMembers(t *testing.T, b []byte, members []member) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("decoding %q: first token %v, %v", b, tok, err)
	}
	n := 0
	for ; dec.More(); n++ {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("decoding %q: key %d: %v", b, n, err)
		}
		key := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			t.Fatalf("decoding %q: value %d: %v", b, n, err)
		}
		if n >= len(members) {
			t.Errorf("validate(%q): %d members; decoder has more, the next is %q", b, len(members), key)
			return
		}
		m := members[n]
		rawKey := b[m.keyStart:m.keyEnd]
		var gotKey string
		if err := json.Unmarshal(b[m.keyStart-1:m.keyEnd+1], &gotKey); err != nil || gotKey != key {
			t.Errorf("validate(%q): member %d key %q (%v), want %q", b, n, rawKey, err, key)
		}
		if m.keyEscaped != (bytes.IndexByte(rawKey, '\\') >= 0) {
			t.Errorf("validate(%q): member %d key %q: keyEscaped = %t", b, n, rawKey, m.keyEscaped)
		}
		if got, want := compact(t, b[m.valStart:m.valEnd]), compact(t, val); got != want {
			t.Errorf("validate(%q): member %d value %q, want %q", b, n, got, want)
		}
	}
	if n != len(members) {
		t.Errorf("validate(%q): %d members, decoder has %d", b, len(members), n)
	}
}

// scanResult is everything a scan of one input gives.
type scanResult struct {
	recs  []scanned
	err   error
	shape Shape
}

// scanBoth scans in whole and one byte at a time, which must give the same
// result.
func scanBoth(t *testing.T, in []byte) scanResult {
	t.Helper()
	s := NewScanner(bytes.NewReader(in))
	r := scanResult{recs: scanAll(s), err: s.Err(), shape: s.Shape()}
	s = NewScanner(iotest.OneByteReader(bytes.NewReader(in)))
	r2 := scanResult{recs: scanAll(s), err: s.Err(), shape: s.Shape()}
	if !reflect.DeepEqual(r2.recs, r.recs) || fmt.Sprint(r2.err) != fmt.Sprint(r.err) || r2.shape != r.shape {
		t.Fatalf("scanning %q whole and one byte at a time differ:\n whole %v %v %v\n bytes %v %v %v", in, r.shape, r.recs, r.err, r2.shape, r2.recs, r2.err)
	}
	return r
}

// checkScanned checks what holds for every scan: records are numbered in
// order, their positions and bytes are those of the input, and a record
// with no problem is valid JSON.
func checkScanned(t *testing.T, in []byte, r scanResult) {
	t.Helper()
	var fe *FileError
	if r.err != nil && !errors.As(r.err, &fe) {
		t.Errorf("scanning %q: Err() = %v (%T), want a *FileError", in, r.err, r.err)
	}
	prevEnd := int64(0)
	for i, rec := range r.recs {
		p := rec.Pos
		if p.Index != int64(i) || p.Offset < prevEnd || p.Offset >= int64(len(in)) {
			t.Fatalf("scanning %q: record %d at %+v, after the previous one ending at %d", in, i, p, prevEnd)
		}
		if want := 1 + int64(bytes.Count(in[:p.Offset], []byte("\n"))); p.Line != want {
			t.Errorf("scanning %q: record %d at offset %d: line %d, want %d", in, i, p.Offset, p.Line, want)
		}
		text := rec.Record
		if rec.Truncated != "" {
			text = rec.Truncated
		}
		if !bytes.HasPrefix(in[p.Offset:], []byte(text)) {
			t.Fatalf("scanning %q: record %d %q is not the input at offset %d", in, i, text, p.Offset)
		}
		prevEnd = p.Offset + int64(len(text))
		switch rec.Problem {
		case "":
			if !utf8.ValidString(rec.Record) || !json.Valid([]byte(rec.Record)) {
				t.Errorf("scanning %q: record %d %q has no problem but is not valid JSON", in, i, rec.Record)
			}
			if d := testutil.JSONDepth([]byte(rec.Record)); d > maxDepth {
				t.Errorf("scanning %q: record %d %q has no problem but nests %d deep", in, i, rec.Record, d)
			}
			if want := strings.HasPrefix(strings.TrimLeft(rec.Record, " \t\r\n"), "{"); rec.Object != want {
				t.Errorf("scanning %q: record %d %q: IsObject() = %t", in, i, rec.Record, rec.Object)
			}
		case reasonRecordTooLarge:
			if rec.Truncated == "" && testutil.JSONDepth([]byte(rec.Record)) <= maxDepth {
				t.Errorf("scanning %q: record %d %q is record_too_large but nests %d deep", in, i, rec.Record, testutil.JSONDepth([]byte(rec.Record)))
			}
		case reasonMalformedJSON, reasonInvalidUTF8:
			if r.shape != ShapeNDJSON {
				t.Errorf("scanning %q: record %d has problem %s in a %v file", in, i, rec.Problem, r.shape)
			}
		default:
			t.Errorf("scanning %q: record %d: unknown problem %q", in, i, rec.Problem)
		}
	}
}

// stripBOM is the input without its UTF-8 BOM, and the BOM's length.
func stripBOM(in []byte) ([]byte, int) {
	if bytes.HasPrefix(in, []byte("\xEF\xBB\xBF")) {
		return in[3:], 3
	}
	return in, 0
}

// arrayInput is the input an array fuzz target scans for b: b itself, or
// b as the one element, the two elements or the pretty-printed element of
// an array, by mode.
func arrayInput(b []byte, mode uint8) []byte {
	switch mode % 4 {
	case 1:
		return fmt.Appendf(nil, "[%s]", b)
	case 2:
		return fmt.Appendf(nil, "[%s,%s]", b, b)
	case 3:
		return fmt.Appendf(nil, "[\n  %s\n]\n", b)
	}
	return b
}

// FuzzScannerArray: the scanner never panics, never returns a record that
// is not valid JSON without a problem, returns exactly the elements
// encoding/json finds in a valid array, and accepts no invalid array.
func FuzzScannerArray(f *testing.F) {
	seeds := []string{
		`{"a": 1}, {"b": [1, {"c": "]}"}]}`,
		`42, "x", null, [1, 2], true, -1.5e3, {}`,
		`{"a": "caf` + "\xe9" + `"}`,
		`{"a": 1} {"b": 2}`,
		`{"a": 1},`,
		`,{"a": 1}`,
		`{a: 1}`,
		`{'a': 1}`,
		`{"a": NaN}`,
		`"\"]"`,
		`{"a": [1}`,
		`{"a": 1}] [`,
		strings.Repeat("[", 64) + strings.Repeat("]", 64),
		strings.Repeat("[", 65) + strings.Repeat("]", 65),
		strings.Repeat(`{"a":`, 65) + "x" + strings.Repeat("}", 65),
	}
	for _, s := range seeds {
		for mode := range uint8(4) {
			f.Add([]byte(s), mode)
		}
	}
	f.Add([]byte("\xEF\xBB\xBF[{\"a\": 1}]"), uint8(0))
	f.Add([]byte("[\x00{\x00"), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		in := arrayInput(b, mode)
		r := scanBoth(t, in)
		checkScanned(t, in, r)
		body, bom := stripBOM(in)
		valid := utf8.Valid(body) && json.Valid(body) && body[skipWS(body, 0)] == '['
		if !valid {
			if r.shape == ShapeArray && r.err == nil {
				for _, rec := range r.recs {
					if rec.Problem != "" {
						return // a deep record's syntax is not checked past maxDepth
					}
				}
				t.Fatalf("scanning %q: no error, but it is not a valid JSON array", in)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if _, err := dec.Token(); err != nil {
			t.Fatalf("decoding %q: %v", body, err)
		}
		var want []json.RawMessage
		for dec.More() {
			var el json.RawMessage
			if err := dec.Decode(&el); err != nil {
				t.Fatalf("decoding %q: %v", body, err)
			}
			want = append(want, el)
		}
		if r.err != nil || r.shape != ShapeArray {
			t.Fatalf("scanning valid array %q: shape %v, Err() = %v; want no error", in, r.shape, r.err)
		}
		if len(r.recs) != len(want) {
			t.Fatalf("scanning %q: %d records, want %d", in, len(r.recs), len(want))
		}
		for i, rec := range r.recs {
			wantProblem := ""
			if testutil.JSONDepth(want[i]) > maxDepth {
				wantProblem = reasonRecordTooLarge
			}
			if rec.Problem != wantProblem {
				t.Errorf("scanning %q: record %d %q: problem %q, want %q", in, i, rec.Record, rec.Problem, wantProblem)
			}
			if got, w := compact(t, []byte(rec.Record)), compact(t, want[i]); got != w {
				t.Errorf("scanning %q: record %d = %q, want %q", in, i, got, w)
			}
			if rec.Pos.Offset < int64(bom) {
				t.Errorf("scanning %q: record %d at offset %d, inside the BOM", in, i, rec.Pos.Offset)
			}
		}
	})
}

// ndjsonLine is a non-blank line of an NDJSON input.
type ndjsonLine struct {
	offset, line int64
	text         []byte // without its "\n" or "\r\n"
}

func ndjsonLines(in []byte) []ndjsonLine {
	body, off := stripBOM(in)
	var out []ndjsonLine
	for n, l := range bytes.Split(body, []byte("\n")) {
		text := bytes.TrimSuffix(l, []byte("\r"))
		if !isJSONSpace(text) {
			out = append(out, ndjsonLine{offset: int64(off), line: int64(n + 1), text: text})
		}
		off += len(l) + 1
	}
	return out
}

// FuzzScannerNDJSON: the scanner never panics; every non-blank line is a
// record, well-formed or with the right problem, unless the first line is
// not a JSON value, which stops the file.
func FuzzScannerNDJSON(f *testing.F) {
	seeds := []string{
		"{\"a\": 1}\n{\"b\": 2}\n",
		"{\"a\": 1}\r\n\r\n  \n{\"b\": 2}",
		"{\"a\": 1}\n42\n\"x\"\nnull\n[1]\n",
		"{\"a\":\n1}\n",
		"{\"a\": 1}\n{\"b\": ",
		"{\"a\": 1} {\"b\": 2}\n",
		"{\"city\": \"Gen\xe8ve\"}\n{\"b\": 2}\n",
		"\xEF\xBB\xBF\n  {\"a\": 1}  \n",
		"{'a': 1}\n{\"a\": NaN}\n",
		"\r\n\t{}\r\r\n{}",
		strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65) + "\n{}\n",
		strings.Repeat(`{"a":`, 65) + "x\n{}",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, prefixed bool) {
		in := b
		if prefixed {
			in = append([]byte("{\"k\": 1}\n"), b...)
		}
		r := scanBoth(t, in)
		checkScanned(t, in, r)
		if r.shape != ShapeNDJSON {
			return
		}
		lines := ndjsonLines(in)
		if r.err != nil {
			var fe *FileError
			if !errors.As(r.err, &fe) || len(r.recs) != 0 || fe.Offset != lines[0].offset || fe.Line != lines[0].line || !strings.Contains(fe.Msg, errNotJSONRecords) {
				t.Fatalf("scanning %q: %d records and Err() = %v; a file-level error is only for a first line that is not a JSON value (line %d, offset %d)",
					in, len(r.recs), r.err, lines[0].line, lines[0].offset)
			}
			if first := lines[0].text; !utf8.Valid(first) || json.Valid(first) {
				t.Errorf("scanning %q: file-level error for a first line %q that is valid JSON or invalid UTF-8", in, first)
			}
			return
		}
		if len(r.recs) != len(lines) {
			t.Fatalf("scanning %q: %d records, want one per non-blank line: %d", in, len(r.recs), len(lines))
		}
		for i, rec := range r.recs {
			l := lines[i]
			if rec.Pos.Offset != l.offset || rec.Pos.Line != l.line || rec.Record != string(l.text) {
				t.Errorf("scanning %q: record %d = %q at line %d, offset %d; want %q at line %d, offset %d",
					in, i, rec.Record, rec.Pos.Line, rec.Pos.Offset, l.text, l.line, l.offset)
			}
			var want []string
			switch {
			case !utf8.Valid(l.text):
				want = []string{reasonInvalidUTF8}
			case !json.Valid(l.text):
				// A line nested too deep is not checked further.
				want = []string{reasonMalformedJSON, reasonRecordTooLarge}
				if i == 0 {
					want = want[1:]
				}
			case testutil.JSONDepth(l.text) > maxDepth:
				want = []string{reasonRecordTooLarge}
			default:
				want = []string{""}
			}
			found := false
			for _, w := range want {
				found = found || rec.Problem == w
			}
			if !found {
				t.Errorf("scanning %q: record %d %q: problem %q, want one of %q", in, i, l.text, rec.Problem, want)
			}
		}
	})
}
