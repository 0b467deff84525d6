package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"
)

// scanned is what a test sees of one record.
type scanned struct {
	Pos       Position
	Record    string
	Truncated string
	Problem   string
	Object    bool
}

func (r scanned) String() string {
	rec := r.Record
	if len(rec) > 80 {
		rec = fmt.Sprintf("%s... (%d bytes)", rec[:80], len(rec))
	}
	trunc := r.Truncated
	if len(trunc) > 40 {
		trunc = fmt.Sprintf("%s... (%d bytes)", trunc[:40], len(trunc))
	}
	return fmt.Sprintf("{index %d line %d offset %d record %q truncated %q problem %q object %t}",
		r.Pos.Index, r.Pos.Line, r.Pos.Offset, rec, trunc, r.Problem, r.Object)
}

// obj is a well-formed object record.
func obj(index, line, offset int64, text string) scanned {
	return scanned{Pos: Position{Index: index, Line: line, Offset: offset}, Record: text, Object: true}
}

// val is a well-formed record that is not an object.
func val(index, line, offset int64, text string) scanned {
	return scanned{Pos: Position{Index: index, Line: line, Offset: offset}, Record: text}
}

// bad is a record with a problem; object records whose problem is found
// by the grammar still report IsObject from their first byte.
func bad(index, line, offset int64, text, problem string) scanned {
	return scanned{Pos: Position{Index: index, Line: line, Offset: offset}, Record: text, Problem: problem,
		Object: strings.HasPrefix(strings.TrimLeft(text, " \t"), "{")}
}

// scanAll runs a scanner to its end.
func scanAll(s *Scanner) []scanned {
	var out []scanned
	for s.Next() {
		out = append(out, scanned{
			Pos:       s.Pos(),
			Record:    string(s.Record()),
			Truncated: string(s.Truncated()),
			Problem:   s.Problem(),
			Object:    s.IsObject(),
		})
	}
	return out
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// readers are the ways a test feeds its input: whole, one byte per Read
// (every record spans refills), one byte per Read with io.EOF returned with
// the last byte, and odd-sized chunks.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"onebyte", iotest.OneByteReader},
	{"dataerr", func(r io.Reader) io.Reader { return iotest.DataErrReader(iotest.OneByteReader(r)) }},
	{"chunk7", func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 7} }},
}

// fileErr is the file-level error a case expects: its position, and a
// part of its message.
type fileErr struct {
	line, offset int64
	msg          string
}

func checkErr(t *testing.T, err error, want *fileErr) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("Err() = %v, want nil", err)
		}
		return
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Errorf("Err() = %v (%T), want a *FileError at line %d, offset %d containing %q", err, err, want.line, want.offset, want.msg)
		return
	}
	if fe.Line != want.line || fe.Offset != want.offset || !strings.Contains(fe.Msg, want.msg) {
		t.Errorf("Err() = %q at line %d, offset %d; want line %d, offset %d, containing %q", fe.Msg, fe.Line, fe.Offset, want.line, want.offset, want.msg)
	}
}

func checkRecords(t *testing.T, got, want []scanned) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("record %d: missing, want %v", i, want[i])
		case i >= len(want):
			t.Errorf("record %d: got %v, want none", i, got[i])
		case !reflect.DeepEqual(got[i], want[i]):
			t.Errorf("record %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

func utf16LE(s string) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

type scanCase struct {
	name    string
	in      string
	shape   Shape
	want    []scanned
	wantErr *fileErr
}

func runScanCases(t *testing.T, cases []scanCase) {
	t.Helper()
	for _, tc := range cases {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				s := NewScanner(rd.wrap(strings.NewReader(tc.in)))
				got := scanAll(s)
				checkRecords(t, got, tc.want)
				checkErr(t, s.Err(), tc.wantErr)
				if s.Shape() != tc.shape {
					t.Errorf("Shape() = %v, want %v", s.Shape(), tc.shape)
				}
				if s.Next() {
					t.Errorf("Next() = true after the scanner stopped")
				}
			})
		}
	}
}

// TestScanFraming covers the file-level cases of docs/data.md#92-file-level-cases that the
// scanner decides (F3, F4, F5, F8-F13).
func TestScanFraming(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	runScanCases(t, []scanCase{
		// F3: empty input is an empty dataset, not an error.
		{name: "F3 empty", in: "", shape: ShapeEmpty},
		{name: "F3 whitespace", in: " \n\t\r\n  \n", shape: ShapeEmpty},
		{name: "F3 BOM only", in: bom + "\r\n", shape: ShapeEmpty},
		{name: "F3 empty array", in: "[]", shape: ShapeArray},
		{name: "F3 empty array spread", in: "\n [\n\t ]\r\n\n", shape: ShapeArray},

		// F4: a UTF-8 BOM is skipped; offsets still count it.
		{
			name: "F4 BOM array", in: bom + "[\n  {\"a\": 1},\n  {\"b\": 2}\n]\n", shape: ShapeArray,
			want: []scanned{obj(0, 2, 7, `{"a": 1}`), obj(1, 3, 19, `{"b": 2}`)},
		},
		{
			name: "F4 BOM NDJSON", in: bom + "{\"a\":1}\n{\"b\":2}\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 3, `{"a":1}`), obj(1, 2, 11, `{"b":2}`)},
		},

		// F5: UTF-16 and UTF-32, with and without a byte-order mark.
		{name: "F5 UTF-16LE BOM", in: "\xFF\xFE" + utf16LE(`[{"a":1}]`), wantErr: &fileErr{1, 0, "unsupported encoding: UTF-16LE"}},
		{name: "F5 UTF-16BE BOM", in: "\xFE\xFF\x00[\x00{", wantErr: &fileErr{1, 0, "unsupported encoding: UTF-16BE"}},
		{name: "F5 UTF-32LE BOM", in: "\xFF\xFE\x00\x00[\x00\x00\x00", wantErr: &fileErr{1, 0, "unsupported encoding: UTF-32LE"}},
		{name: "F5 UTF-32BE BOM", in: "\x00\x00\xFE\xFF\x00\x00\x00[", wantErr: &fileErr{1, 0, "unsupported encoding: UTF-32BE"}},
		{name: "F5 UTF-16LE", in: utf16LE("[{\"a\":1}]\n"), wantErr: &fileErr{1, 0, "unsupported encoding: UTF-16LE"}},
		{name: "F5 UTF-16LE NDJSON", in: utf16LE("{\"a\":1}\n"), wantErr: &fileErr{1, 0, "unsupported encoding: UTF-16LE"}},
		{name: "F5 UTF-16BE", in: "\x00[\x00{\x00\"", wantErr: &fileErr{1, 0, "unsupported encoding: UTF-16BE"}},
		{name: "F5 UTF-32LE", in: "[\x00\x00\x00{\x00\x00\x00", wantErr: &fileErr{1, 0, "unsupported encoding: UTF-32LE"}},
		{name: "F5 UTF-32BE", in: "\x00\x00\x00[\x00\x00\x00{", wantErr: &fileErr{1, 0, "unsupported encoding: UTF-32BE"}},
		{name: "F5 UTF-16LE short", in: "[\x00", wantErr: &fileErr{1, 0, "unsupported encoding: UTF-16LE"}},

		// F8: a pretty-printed top-level object is not NDJSON; the same
		// object on one line is a one-record NDJSON file.
		{
			name: "F8 pretty object", in: "{\n  \"vehicles\": [\n    {\"vehicle_id\": \"V-001\"}\n  ]\n}\n", shape: ShapeNDJSON,
			wantErr: &fileErr{1, 0, errNotJSONRecords},
		},
		{
			name: "F8 pretty object after blank lines", in: "\n\r\n  {\n\"vehicles\": []}\n", shape: ShapeNDJSON,
			wantErr: &fileErr{3, 3, errNotJSONRecords},
		},
		{
			name: "F8 one-line object", in: "{\"vehicles\": [{\"vehicle_id\": \"V-001\"}]}\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 0, `{"vehicles": [{"vehicle_id": "V-001"}]}`)},
		},

		// F9: a top-level scalar.
		{name: "F9 string", in: `"hello"`, wantErr: &fileErr{1, 0, errNotJSONRecords}},
		{name: "F9 number", in: "42\n", wantErr: &fileErr{1, 0, errNotJSONRecords}},
		{name: "F9 null after blank line", in: "\n  null", wantErr: &fileErr{2, 3, errNotJSONRecords}},
		{name: "F9 true after BOM", in: bom + "true", wantErr: &fileErr{1, 3, errNotJSONRecords}},
		{name: "F9 text", in: "vehicle_id,name\n", wantErr: &fileErr{1, 0, errNotJSONRecords}},

		// F10: a truncated array; the records before the cut are read.
		{name: "F10 open bracket only", in: "[", shape: ShapeArray, wantErr: &fileErr{1, 1, "unexpected end of input"}},
		{
			name: "F10 no closing bracket", in: "[\n  {\"a\": 1}\n", shape: ShapeArray,
			want:    []scanned{obj(0, 2, 4, `{"a": 1}`)},
			wantErr: &fileErr{3, 13, "unexpected end of input"},
		},
		{
			name: "F10 after comma", in: "[{\"a\":1},", shape: ShapeArray,
			want:    []scanned{obj(0, 1, 1, `{"a":1}`)},
			wantErr: &fileErr{1, 9, "unexpected end of input"},
		},
		{
			name: "F10 inside a record", in: "[\n  {\"a\": 1},\n  {\"b\": \"x", shape: ShapeArray,
			want:    []scanned{obj(0, 2, 4, `{"a": 1}`)},
			wantErr: &fileErr{3, 24, "unexpected end of input"},
		},
		{
			name: "F10 inside a scalar", in: "[1, 2, 3", shape: ShapeArray,
			want:    []scanned{val(0, 1, 1, "1"), val(1, 1, 4, "2")},
			wantErr: &fileErr{1, 8, "unexpected end of input"},
		},

		// F11: syntax errors inside the array stop the file at the error.
		{
			name: "F11 missing comma between records", in: "[\n  {\"a\": 1}\n  {\"b\": 2}\n]", shape: ShapeArray,
			want:    []scanned{obj(0, 2, 4, `{"a": 1}`)},
			wantErr: &fileErr{3, 15, "invalid character '{' after array element, expected ',' or ']'"},
		},
		{
			name: "F11 missing comma between members", in: "[{\"a\": 1 \"b\": 2}]", shape: ShapeArray,
			wantErr: &fileErr{1, 9, "invalid character '\"' after object value, expected ',' or '}'"},
		},
		{
			name: "F11 unquoted key", in: "[{\"a\": 1},\n {b: 2}]", shape: ShapeArray,
			want:    []scanned{obj(0, 1, 1, `{"a": 1}`)},
			wantErr: &fileErr{2, 13, "invalid character 'b' looking for beginning of object key string"},
		},
		{
			name: "F11 trailing comma in array", in: "[{\"a\": 1},\n]", shape: ShapeArray,
			want:    []scanned{obj(0, 1, 1, `{"a": 1}`)},
			wantErr: &fileErr{2, 11, "trailing comma"},
		},
		{
			name: "F11 trailing comma in object", in: "[{\"a\": 1,}]", shape: ShapeArray,
			wantErr: &fileErr{1, 9, "invalid character '}' looking for beginning of object key string"},
		},
		{
			name: "F11 NaN literal", in: "[\n{\"cost\": NaN}\n]", shape: ShapeArray,
			wantErr: &fileErr{2, 11, "invalid character 'N' looking for beginning of value"},
		},
		{
			name: "F11 Infinity literal", in: "[{\"cost\": -Infinity}]", shape: ShapeArray,
			wantErr: &fileErr{1, 11, "invalid character 'I' in numeric literal"},
		},
		{
			name: "F11 single quotes", in: "[{'a': 'b'}]", shape: ShapeArray,
			wantErr: &fileErr{1, 2, `invalid character '\'' looking for beginning of object key string`},
		},
		{
			name: "F11 single-quoted scalar", in: "['a']", shape: ShapeArray,
			wantErr: &fileErr{1, 1, `invalid character '\'' looking for beginning of value`},
		},
		{
			name: "F11 leading comma", in: "[,{\"a\": 1}]", shape: ShapeArray,
			wantErr: &fileErr{1, 1, "invalid character ',' looking for beginning of value"},
		},
		{
			name: "F11 double comma", in: "[{\"a\": 1},\n,{\"b\": 2}]", shape: ShapeArray,
			want:    []scanned{obj(0, 1, 1, `{"a": 1}`)},
			wantErr: &fileErr{2, 11, "invalid character ',' looking for beginning of value"},
		},
		{
			name: "F11 mismatched brackets", in: "[{\"a\": [1}]", shape: ShapeArray,
			wantErr: &fileErr{1, 9, "invalid character '}' after array element, expected ',' or ']'"},
		},
		{
			name: "F11 two values in one element", in: "[1 2]", shape: ShapeArray,
			want:    []scanned{val(0, 1, 1, "1")},
			wantErr: &fileErr{1, 3, "invalid character '2' after array element"},
		},

		// F12: anything but whitespace after the closing bracket.
		{
			name: "F12 two arrays", in: "[{\"a\":1}]\n[{\"b\":2}]\n", shape: ShapeArray,
			want:    []scanned{obj(0, 1, 1, `{"a":1}`)},
			wantErr: &fileErr{2, 10, "trailing data after top-level array"},
		},
		{
			name: "F12 stray text", in: "[]  x", shape: ShapeArray,
			wantErr: &fileErr{1, 4, "trailing data after top-level array"},
		},
		{
			name: "F12 trailing whitespace is fine", in: "[{\"a\":1}] \r\n\t\n", shape: ShapeArray,
			want: []scanned{obj(0, 1, 1, `{"a":1}`)},
		},

		// F13: invalid UTF-8 in an array stops the file.
		{
			name: "F13 Latin-1 value", in: "[\n  {\"city\": \"Gen\xE8ve\"},\n  {\"b\": 2}\n]", shape: ShapeArray,
			wantErr: &fileErr{2, 17, "invalid UTF-8"},
		},
		{
			name: "F13 Latin-1 key in the second record", in: "[{\"a\": 1}, {\"caf\xE9\": 1}]", shape: ShapeArray,
			want:    []scanned{obj(0, 1, 1, `{"a": 1}`)},
			wantErr: &fileErr{1, 16, "invalid UTF-8"},
		},
		{
			name: "F13 UTF-16 surrogate encoded in UTF-8", in: "[\"\xED\xA0\x80\"]", shape: ShapeArray,
			wantErr: &fileErr{1, 2, "invalid UTF-8"},
		},
	})
}

// TestScanRecords covers the record-level cases the scanner owns (R24,
// R26-R29) and the NDJSON framing rules of docs/data.md#1-files-and-framing.
func TestScanRecords(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	runScanCases(t, []scanCase{
		// R24: non-object values are well-formed records, not errors.
		{
			name: "R24 array", in: `[42, "x", null, [1, {"a": 2}], true, -1.5e3, "a,]}", {"a": [1]}]`, shape: ShapeArray,
			want: []scanned{
				val(0, 1, 1, "42"), val(1, 1, 5, `"x"`), val(2, 1, 10, "null"), val(3, 1, 16, `[1, {"a": 2}]`),
				val(4, 1, 31, "true"), val(5, 1, 37, "-1.5e3"), val(6, 1, 45, `"a,]}"`), obj(7, 1, 53, `{"a": [1]}`),
			},
		},
		{
			name: "R24 NDJSON", in: "{\"a\":1}\n42\n\"x\"\nnull\n[1]\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 0, `{"a":1}`), val(1, 2, 8, "42"), val(2, 3, 11, `"x"`), val(3, 4, 15, "null"), val(4, 5, 20, "[1]")},
		},

		// R26 (nesting): 64 levels are fine, 65 are too deep; the next
		// record is read normally.
		{
			name: "R26 nesting array", in: "[" + deep(64) + ",\n" + deep(65) + ",\n" + deepObj(65) + ",\n{\"b\":2}]", shape: ShapeArray,
			want: []scanned{
				val(0, 1, 1, deep(64)),
				bad(1, 2, 1+128+2, deep(65), reasonRecordTooLarge),
				bad(2, 3, 131+130+2, deepObj(65), reasonRecordTooLarge),
				obj(3, 4, 263+391+2, `{"b":2}`),
			},
		},
		{
			name: "R26 nesting NDJSON", in: deepObj(65) + "\n" + deepObj(64) + "\n" + deep(65) + "\n{\"b\":2}", shape: ShapeNDJSON,
			want: []scanned{
				bad(0, 1, 0, deepObj(65), reasonRecordTooLarge),
				obj(1, 2, 391+1, deepObj(64)),
				bad(2, 3, 392+386, deep(65), reasonRecordTooLarge),
				obj(3, 4, 778+131, `{"b":2}`),
			},
		},
		{
			name: "R26 brackets in strings do not nest", in: "[{\"a\": \"" + deep(100) + "\"}]", shape: ShapeArray,
			want: []scanned{obj(0, 1, 1, `{"a": "`+deep(100)+`"}`)},
		},

		// R27: a malformed NDJSON line is a reject; the next line is read.
		{
			name: "R27 malformed line", in: "{\"a\":1}\n{\"shipment_id\": \"S-1\",\n{\"b\":2}\n", shape: ShapeNDJSON,
			want: []scanned{
				obj(0, 1, 0, `{"a":1}`),
				bad(1, 2, 8, `{"shipment_id": "S-1",`, reasonMalformedJSON),
				obj(2, 3, 31, `{"b":2}`),
			},
		},
		{
			name: "R27 two values on a line", in: "{\"a\":1}\n{\"a\":1} {\"b\":2}\n[1] x\n", shape: ShapeNDJSON,
			want: []scanned{
				obj(0, 1, 0, `{"a":1}`),
				bad(1, 2, 8, `{"a":1} {"b":2}`, reasonMalformedJSON),
				bad(2, 3, 24, `[1] x`, reasonMalformedJSON),
			},
		},
		{
			name: "R27 NaN and single quotes", in: "{\"a\":1}\n{\"cost\": NaN}\n{'a': 1}\n", shape: ShapeNDJSON,
			want: []scanned{
				obj(0, 1, 0, `{"a":1}`),
				bad(1, 2, 8, `{"cost": NaN}`, reasonMalformedJSON),
				bad(2, 3, 22, `{'a': 1}`, reasonMalformedJSON),
			},
		},

		// R28: invalid UTF-8 in an NDJSON line is a reject, even on the
		// first line, and the bytes are kept as they are.
		{
			name: "R28 Latin-1 line", in: "{\"a\":1}\n{\"city\": \"Gen\xE8ve\"}\n{\"b\":2}\n", shape: ShapeNDJSON,
			want: []scanned{
				obj(0, 1, 0, `{"a":1}`),
				bad(1, 2, 8, "{\"city\": \"Gen\xE8ve\"}", reasonInvalidUTF8),
				obj(2, 3, 27, `{"b":2}`),
			},
		},
		{
			name: "R28 first line", in: "{\"city\": \"Gen\xE8ve\"}\r\n{\"b\":2}", shape: ShapeNDJSON,
			want: []scanned{
				bad(0, 1, 0, "{\"city\": \"Gen\xE8ve\"}", reasonInvalidUTF8),
				obj(1, 2, 20, `{"b":2}`),
			},
		},
		{
			name: "R28 invalid UTF-8 and malformed", in: "{\"a\":1}\n{\"a\": \xE9\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 0, `{"a":1}`), bad(1, 2, 8, "{\"a\": \xE9", reasonInvalidUTF8)},
		},

		// R29: the last line cut off.
		{
			name: "R29 last line cut off", in: "{\"a\":1}\n{\"b\":2}\n{\"c\":", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 0, `{"a":1}`), obj(1, 2, 8, `{"b":2}`), bad(2, 3, 16, `{"c":`, reasonMalformedJSON)},
		},
		{
			name: "R29 last line complete without newline", in: "{\"a\":1}\n{\"b\":2}", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 0, `{"a":1}`), obj(1, 2, 8, `{"b":2}`)},
		},

		// NDJSON framing: CRLF, blank lines (skipped, not counted), and
		// whitespace around a record kept as part of its line.
		{
			name: "CRLF", in: "{\"a\":1}\r\n{\"b\":2}\r\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 0, `{"a":1}`), obj(1, 2, 9, `{"b":2}`)},
		},
		{
			name: "blank lines", in: "\n \n{\"a\":1}\n\n\t\r\n   \n{\"b\":2}\r\n\r\n\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 3, 3, `{"a":1}`), obj(1, 7, 19, `{"b":2}`)},
		},
		{
			name: "whitespace around records", in: "  {\"a\":1}  \n\t{\"b\":2}\t\r\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 1, 0, `  {"a":1}  `), obj(1, 2, 12, "\t{\"b\":2}\t")},
		},
		{
			name: "whitespace before the first record after a blank line", in: "\r\n    {\"a\":1}\n", shape: ShapeNDJSON,
			want: []scanned{obj(0, 2, 2, `    {"a":1}`)},
		},
		{
			name: "first line malformed", in: "{\"a\":\n1}\n", shape: ShapeNDJSON,
			wantErr: &fileErr{1, 0, errNotJSONRecords},
		},
		{
			name: "first line malformed after blank lines", in: "\n\n{\"a\":1,}\n{\"b\":2}\n", shape: ShapeNDJSON,
			wantErr: &fileErr{3, 2, errNotJSONRecords},
		},
	})
}

// genInput builds a file of n records of varied lengths in the given shape,
// pretty-printed like the sample files for arrays and with blank lines and
// CRLF here and there for NDJSON, and the records a scanner must return.
func genInput(shape Shape, n int) ([]byte, []scanned) {
	var b bytes.Buffer
	var want []scanned
	line := int64(1)
	if shape == ShapeArray {
		b.WriteString("[\n")
		line++
	}
	for i := range n {
		rec := fmt.Sprintf(`{"shipment_id": "S-%06d", "note": "%s", "n": [%d, {"x": "é\"]}"}]}`, i, strings.Repeat("x", i*37%300), i)
		switch shape {
		case ShapeArray:
			b.WriteString("  ")
			want = append(want, obj(int64(i), line, int64(b.Len()), rec))
			b.WriteString(rec)
			if i < n-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
			line++
		case ShapeNDJSON:
			if i%7 == 3 {
				b.WriteString("\n  \n")
				line += 2
			}
			want = append(want, obj(int64(i), line, int64(b.Len()), rec))
			b.WriteString(rec)
			if i%5 == 1 {
				b.WriteString("\r")
			}
			b.WriteString("\n")
			line++
		}
	}
	if shape == ShapeArray {
		b.WriteString("]\n")
	}
	return b.Bytes(), want
}

// TestScanRefills reads files larger than the scanner's initial buffer, in
// chunks of every size, and one record larger than the initial buffer.
func TestScanRefills(t *testing.T) {
	big := `{"note": "` + strings.Repeat("y", 600<<10) + `"}`
	for _, shape := range []Shape{ShapeArray, ShapeNDJSON} {
		in, want := genInput(shape, 3000)
		if len(in) < 2*(256<<10) {
			t.Fatalf("generated %d bytes, want more than twice the initial buffer", len(in))
		}
		// A record bigger than the initial buffer, but under the cap,
		// in the middle of the file.
		var sep string
		if shape == ShapeArray {
			sep = ","
		}
		mid := len(want) / 2
		at := want[mid].Pos.Offset
		ins := []byte(big + sep + "\n")
		if shape == ShapeArray {
			ins = []byte(big + sep + "\n  ")
		}
		in = append(in[:at:at], append(ins, in[at:]...)...)
		want = append(want[:mid:mid], append([]scanned{obj(int64(mid), want[mid].Pos.Line, at, big)}, want[mid:]...)...)
		for i := mid + 1; i < len(want); i++ {
			want[i].Pos.Index++
			want[i].Pos.Line++
			want[i].Pos.Offset += int64(len(ins))
		}
		for _, rd := range readers {
			t.Run(shape.String()+"/"+rd.name, func(t *testing.T) {
				s := NewScanner(rd.wrap(bytes.NewReader(in)))
				checkRecords(t, scanAll(s), want)
				checkErr(t, s.Err(), nil)
				if s.BytesRead() != int64(len(in)) {
					t.Errorf("BytesRead() = %d, want %d", s.BytesRead(), len(in))
				}
			})
		}
	}
}

// TestScanTooLarge covers R26 for size: a record over 1 MiB is rejected with
// only its head kept, the scanner's memory stays bounded, and the next
// record is read normally, however the input is chunked.
func TestScanTooLarge(t *testing.T) {
	// record is an object of exactly n bytes.
	record := func(n int) string {
		const head, tail = `{"note": "`, `"}`
		return head + strings.Repeat("z", n-len(head)-len(tail)) + tail
	}
	sizes := []struct {
		name     string
		n        int
		tooLarge bool
	}{
		{"1MiB", maxRecordBytes, false},
		{"1MiB+1", maxRecordBytes + 1, true},
		{"1.5MiB", maxRecordBytes * 3 / 2, true},
		{"5MiB", 5 * maxRecordBytes, true},
	}
	chunked := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"chunk4093", func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 4093} }},
		{"chunk100000", func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 100000} }},
	}
	for _, sz := range sizes {
		rec := record(sz.n)
		for _, shape := range []Shape{ShapeArray, ShapeNDJSON} {
			var in string
			var want []scanned
			middle := func(off int64, line int64) scanned {
				if sz.tooLarge {
					return scanned{Pos: Position{Index: 1, Line: line, Offset: off}, Truncated: rec[:truncatedRecordBytes], Problem: reasonRecordTooLarge}
				}
				return obj(1, line, off, rec)
			}
			if shape == ShapeArray {
				in = "[\n  {\"a\": 1},\n  " + rec + ",\n  {\"b\": 2}\n]\n"
				want = []scanned{obj(0, 2, 4, `{"a": 1}`), middle(16, 3), obj(2, 4, int64(16+len(rec)+4), `{"b": 2}`)}
			} else {
				in = "{\"a\": 1}\r\n" + rec + "\r\n{\"b\": 2}\n"
				want = []scanned{obj(0, 1, 0, `{"a": 1}`), middle(10, 2), obj(2, 3, int64(10+len(rec)+2), `{"b": 2}`)}
			}
			for _, rd := range chunked {
				t.Run(sz.name+"/"+shape.String()+"/"+rd.name, func(t *testing.T) {
					s := NewScanner(rd.wrap(strings.NewReader(in)))
					checkRecords(t, scanAll(s), want)
					checkErr(t, s.Err(), nil)
					// The buffer doubles up to the first size over the cap
					// (append may round its capacity up a little).
					if c := cap(s.buf); c > 3*maxRecordBytes {
						t.Errorf("the scanner's buffer grew to %d bytes, want at most %d", c, 3*maxRecordBytes)
					}
				})
			}
		}
	}
}

// TestScanTooLargeUnterminated is an oversized record at the end of a file
// that was cut off: for an array that is still a truncated file, for NDJSON
// a reject.
func TestScanTooLargeUnterminated(t *testing.T) {
	rec := `{"note": "` + strings.Repeat("z", 2*maxRecordBytes)
	s := NewScanner(strings.NewReader("[{\"a\":1},\n" + rec))
	checkRecords(t, scanAll(s), []scanned{obj(0, 1, 1, `{"a":1}`)})
	checkErr(t, s.Err(), &fileErr{2, int64(10 + len(rec)), "unexpected end of input"})

	s = NewScanner(strings.NewReader("{\"a\":1}\n" + rec))
	checkRecords(t, scanAll(s), []scanned{
		obj(0, 1, 0, `{"a":1}`),
		{Pos: Position{Index: 1, Line: 2, Offset: 8}, Truncated: rec[:truncatedRecordBytes], Problem: reasonRecordTooLarge},
	})
	checkErr(t, s.Err(), nil)
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestScanReadError: a source that fails part-way (a broken gzip stream, a
// dropped connection) stops the file with the offset reached.
func TestScanReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, in := range []string{"[{\"a\":1},\n{\"b\":", "{\"a\":1}\n{\"b\":"} {
		s := NewScanner(&errReader{data: []byte(in), err: boom})
		got := scanAll(s)
		checkRecords(t, got, []scanned{obj(0, 1, int64(strings.IndexByte(in, '{')), `{"a":1}`)})
		checkErr(t, s.Err(), &fileErr{2, int64(len(in)), "read: boom"})
	}
}

// TestScanMembers checks the members the validator records for an object
// record, and that they are offsets into Record.
func TestScanMembers(t *testing.T) {
	s := NewScanner(strings.NewReader(`[{"a": 1, "b\"c" : [1, {"d": 2}], "a": "x"}, 42]`))
	if !s.Next() {
		t.Fatalf("Next() = false, err %v", s.Err())
	}
	type kv struct {
		Key, Val string
		Escaped  bool
	}
	var got []kv
	for _, m := range s.members() {
		got = append(got, kv{string(s.Record()[m.keyStart:m.keyEnd]), string(s.Record()[m.valStart:m.valEnd]), m.keyEscaped})
	}
	want := []kv{{"a", "1", false}, {`b\"c`, `[1, {"d": 2}]`, true}, {"a", `"x"`, false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Members() = %+v, want %+v", got, want)
	}
	if !s.Next() {
		t.Fatalf("Next() = false, err %v", s.Err())
	}
	if len(s.members()) != 0 || s.IsObject() {
		t.Errorf("for 42: Members() = %v, IsObject() = %t; want none, false", s.members(), s.IsObject())
	}
}

// scanN reads n records and returns them with the checkpoint after them.
func scanN(t *testing.T, s *Scanner, n int) ([]scanned, Checkpoint) {
	t.Helper()
	var got []scanned
	for range n {
		if !s.Next() {
			t.Fatalf("Next() = false after %d records, err %v", len(got), s.Err())
		}
		got = append(got, scanned{Pos: s.Pos(), Record: string(s.Record()), Truncated: string(s.Truncated()), Problem: s.Problem(), Object: s.IsObject()})
	}
	return got, s.Checkpoint()
}

// TestScanResume: a scanner resumed from a checkpoint continues with the
// next record at the right position, whatever the chunking, for both
// shapes.
func TestScanResume(t *testing.T) {
	small := map[Shape]string{
		ShapeArray:  "\xEF\xBB\xBF[\n  {\"a\": 1},\n\n  42, {\"b\": \"x\\\"]\"}\n  ,{\"c\": 3}\n] \n",
		ShapeNDJSON: "\xEF\xBB\xBF\n{\"a\": 1}\r\n\n{\"b\": \"x\"}\n{bad\n  {\"c\": 3}\n\n",
	}
	for _, shape := range []Shape{ShapeArray, ShapeNDJSON} {
		in := []byte(small[shape])
		whole := scanAll(NewScanner(bytes.NewReader(in)))
		if len(whole) != 4 {
			t.Fatalf("%v: %d records in the small input, want 4: %v", shape, len(whole), whole)
		}
		for n := 0; n <= len(whole); n++ {
			for _, rd := range readers {
				t.Run(fmt.Sprintf("%v/small/after%d/%s", shape, n, rd.name), func(t *testing.T) {
					checkResume(t, shape, in, n, whole, rd.wrap)
				})
			}
		}
		big, want := genInput(shape, 3000)
		for _, n := range []int{0, 1, 1234, 2999, 3000} {
			for _, rd := range readers[:3] {
				t.Run(fmt.Sprintf("%v/big/after%d/%s", shape, n, rd.name), func(t *testing.T) {
					checkResume(t, shape, big, n, want, rd.wrap)
				})
			}
		}
	}
}

func checkResume(t *testing.T, shape Shape, in []byte, n int, whole []scanned, wrap func(io.Reader) io.Reader) {
	t.Helper()
	first, cp := scanN(t, NewScanner(wrap(bytes.NewReader(in))), n)
	checkRecords(t, first, whole[:n])
	// The checkpoint is right after the record: for an array, before the
	// ',' or ']' that follows it; for NDJSON, after its line's newline.
	// Before the first record, it is the start of the file.
	want := Checkpoint{Line: 1}
	if n > 0 {
		last := whole[n-1]
		want = Checkpoint{Index: int64(n), Offset: last.Pos.Offset + int64(len(last.Record))}
		if shape == ShapeNDJSON {
			if bytes.HasPrefix(in[want.Offset:], []byte("\r\n")) {
				want.Offset += 2
			} else if bytes.HasPrefix(in[want.Offset:], []byte("\n")) {
				want.Offset++
			}
		}
		want.Line = last.Pos.Line + int64(bytes.Count(in[last.Pos.Offset:want.Offset], []byte("\n")))
	}
	if cp.Offset != want.Offset || cp.Line != want.Line || cp.Index != want.Index {
		t.Errorf("Checkpoint() = offset %d line %d index %d; want offset %d line %d index %d",
			cp.Offset, cp.Line, cp.Index, want.Offset, want.Line, want.Index)
	}
	s := NewScanner(wrap(bytes.NewReader(in)))
	s.Resume(cp)
	checkRecords(t, scanAll(s), whole[n:])
	checkErr(t, s.Err(), nil)
	if s.Shape() != shape {
		t.Errorf("Shape() = %v, want %v", s.Shape(), shape)
	}
}

// TestScanResumePrefixChanged: resuming is refused when the part of the
// file the checkpoint covers changed (docs/data.md#92-file-level-cases, F15), and allowed when
// only what follows it changed.
func TestScanResumePrefixChanged(t *testing.T) {
	inputs := map[Shape]string{
		ShapeArray:  "[\n  {\"a\": 1},\n  {\"b\": 2},\n  {\"c\": 3}\n]\n",
		ShapeNDJSON: "{\"a\": 1}\n{\"b\": 2}\n{\"c\": 3}\n",
	}
	for _, shape := range []Shape{ShapeArray, ShapeNDJSON} {
		in := inputs[shape]
		_, cp := scanN(t, NewScanner(strings.NewReader(in)), 2)
		next := strings.Index(in, `{"c"`)
		cases := []struct {
			name string
			in   string
			want []scanned // nil when the resume must be refused
		}{
			{name: "first record changed", in: strings.Replace(in, `"a": 1`, `"a": 7`, 1)},
			{name: "last byte before the checkpoint changed", in: in[:cp.Offset-1] + "x" + in[cp.Offset:]},
			{name: "second-to-last byte before the checkpoint changed", in: in[:cp.Offset-2] + "x" + in[cp.Offset-1:]},
			{name: "byte inserted", in: strings.Replace(in, `"a": 1`, `"a": 10`, 1)},
			{name: "newline added before the checkpoint", in: strings.Replace(in, `{"b": 2}`, "{\"b\":\n2}", 1)},
			{name: "shorter than the checkpoint", in: in[:cp.Offset-1]},
			{name: "cut inside the first record", in: in[:5]},
			{name: "empty", in: ""},
			{name: "whitespace only", in: "\n\n"},
			{
				name: "unchanged", in: in,
				want: []scanned{obj(2, 4, int64(next), `{"c": 3}`)},
			},
			{
				name: "changed after the checkpoint", in: strings.Replace(in, `{"c": 3}`, `{"c": 33}, {"d": 4}`, 1),
				want: []scanned{obj(2, 4, int64(next), `{"c": 33}`), obj(3, 4, int64(next+11), `{"d": 4}`)},
			},
		}
		if shape == ShapeNDJSON {
			cases[len(cases)-1].in = strings.Replace(in, `{"c": 3}`, "{\"c\": 33}\n{\"d\": 4}", 1)
			cases[len(cases)-1].want[1] = obj(3, 5, int64(next+10), `{"d": 4}`)
			for i := range cases {
				if cases[i].want != nil {
					for j := range cases[i].want {
						cases[i].want[j].Pos.Line--
					}
				}
			}
		}
		for _, tc := range cases {
			t.Run(shape.String()+"/"+tc.name, func(t *testing.T) {
				s := NewScanner(iotest.OneByteReader(strings.NewReader(tc.in)))
				s.Resume(cp)
				got := scanAll(s)
				if tc.want == nil {
					if !errors.Is(s.Err(), ErrPrefixChanged) {
						t.Errorf("Err() = %v, want ErrPrefixChanged", s.Err())
					}
					if len(got) != 0 {
						t.Errorf("read %v, want no records", got)
					}
					return
				}
				checkRecords(t, got, tc.want)
				checkErr(t, s.Err(), nil)
			})
		}
	}
}

// TestScanTooLargeFirstLine: an oversized first NDJSON line is a reject, not
// a file-level error, and a resumed scan can start after it.
func TestScanTooLargeFirstLine(t *testing.T) {
	rec := `{"note": "` + strings.Repeat("z", maxRecordBytes) + `"}`
	in := rec + "\n{\"b\": 2}\n"
	s := NewScanner(strings.NewReader(in))
	got, cp := scanN(t, s, 1)
	want := []scanned{{Pos: Position{Index: 0, Line: 1, Offset: 0}, Truncated: rec[:truncatedRecordBytes], Problem: reasonRecordTooLarge}}
	checkRecords(t, got, want)
	if cp.Offset != int64(len(rec)+1) || cp.Line != 2 || cp.Index != 1 {
		t.Errorf("Checkpoint() = %+v, want offset %d line 2 index 1", cp, len(rec)+1)
	}
	s = NewScanner(strings.NewReader(in))
	s.Resume(cp)
	checkRecords(t, scanAll(s), []scanned{obj(1, 2, int64(len(rec)+1), `{"b": 2}`)})
	checkErr(t, s.Err(), nil)
}

// TestScanLongWhitespace: whitespace is never buffered beyond the record
// cap, so a huge whitespace-only file is an empty dataset read in bounded
// memory, and more than 1 MiB of whitespace before the first NDJSON record
// on its line is not part of the record, however the input is chunked.
func TestScanLongWhitespace(t *testing.T) {
	ws := strings.Repeat(" \t", 3*maxRecordBytes/2)
	cases := []scanCase{
		{name: "whitespace only", in: "\n" + ws, shape: ShapeEmpty},
		{name: "whitespace then array", in: ws + "\r\n[1]", shape: ShapeArray, want: []scanned{val(0, 2, int64(len(ws)+3), "1")}},
		{name: "whitespace then record", in: "\n" + ws + "{\"a\":1}\n", shape: ShapeNDJSON, want: []scanned{obj(0, 2, int64(1+len(ws)), `{"a":1}`)}},
		{name: "short whitespace then record", in: "\n" + ws[:1000] + "{\"a\":1}\n", shape: ShapeNDJSON, want: []scanned{obj(0, 2, 1, ws[:1000]+`{"a":1}`)}},
	}
	for _, tc := range cases {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"chunk4093", func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 4093} }},
			{"chunk300", func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 300} }},
		} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				s := NewScanner(rd.wrap(strings.NewReader(tc.in)))
				checkRecords(t, scanAll(s), tc.want)
				checkErr(t, s.Err(), nil)
				if s.Shape() != tc.shape {
					t.Errorf("Shape() = %v, want %v", s.Shape(), tc.shape)
				}
				if c := cap(s.buf); c > 3*maxRecordBytes {
					t.Errorf("the scanner's buffer grew to %d bytes, want at most %d", c, 3*maxRecordBytes)
				}
			})
		}
	}
}
