package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf8"
)

// The hot path's shortcuts each have a slower, plainer counterpart; these
// tests hold them to it.

// FuzzParseDecimal: whatever parseDecimal reads, it reads to the very bits
// strconv.ParseFloat gives.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"37.9", "139.87", "15", "0", "-0", "-0.0", "0.1", "0.30000000000000004",
		"123456789012345", "1234567890123456", "99999999999999.9", "0.000000000000001", "9007199254740993",
		"1e5", "1.5E-3", "-12.5", "00012", "1.2.3", "", "-", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return // raw values are never empty
		}
		got, ok := parseDecimal([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseDecimal(%q) = %v (%#x); strconv.ParseFloat = %v (%#x), %v",
				s, got, math.Float64bits(got), want, math.Float64bits(want), err)
		}
	})
}

// TestParseDecimalRandom compares parseDecimal with strconv on random
// decimals of every length and scale it reads.
func TestParseDecimalRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		digits := 1 + r.IntN(maxDecimalDigits)
		mant := r.Uint64N(uint64(math.Pow10(digits)))
		s := fmt.Sprintf("%0*d", digits, mant)
		if point := r.IntN(digits + 1); point < digits {
			s = s[:point] + "." + s[point:]
			if point == 0 {
				s = "0" + s[:len(s)-1] // keep the digit count
			}
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		got, ok := parseDecimal([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseDecimal(%q) = %v, %t; strconv.ParseFloat = %v, %v", s, got, ok, want, err)
		}
	}
}

// firstSpecial is the index of the first byte of w that strPlain does not
// hold, or 8.
func firstSpecial(w []byte) int {
	for i, c := range w {
		if !strPlain[c] {
			return i
		}
	}
	return 8
}

// TestSpecialBytes: the lowest byte specialBytes flags is the first byte
// that needs a look, for every byte value at every place, and for random
// words.
func TestSpecialBytes(t *testing.T) {
	lowest := func(w []byte) int {
		return bits.TrailingZeros64(specialBytes(binary.LittleEndian.Uint64(w))) >> 3
	}
	for at := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', '~', ' ', '"', 0x00, 0x80, 0xff} {
				w := bytes.Repeat([]byte{'a'}, 8)
				for i := at + 1; i < 8; i++ {
					w[i] = fill
				}
				w[at] = byte(c)
				if got, want := lowest(w), firstSpecial(w); got != want {
					t.Fatalf("specialBytes(%q): lowest flag at %d, want %d", w, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	w := make([]byte, 8)
	for range 1_000_000 {
		binary.LittleEndian.PutUint64(w, r.Uint64()&0x7f7f7f7f7f7f7f7f|r.Uint64()&r.Uint64()&r.Uint64()&0x8080808080808080)
		if got, want := lowest(w), firstSpecial(w); got != want {
			t.Fatalf("specialBytes(%q): lowest flag at %d, want %d", w, got, want)
		}
	}
}

// The rune-by-rune checks the byte-wise ones replace.
func runeHasControl(s []byte) bool {
	return bytes.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

func runeHasSurroundingSpace(s []byte) bool {
	first, _ := utf8.DecodeRune(s)
	last, _ := utf8.DecodeLastRune(s)
	return unicode.IsSpace(first) || unicode.IsSpace(last)
}

func runeIsBlank(s []byte) bool { return len(bytes.TrimFunc(s, unicode.IsSpace)) == 0 }

// FuzzTextChecks: the byte-wise text checks agree with rune-wise ones on
// any bytes, and checkID and checkText say the same with ascii set for
// ASCII text.
func FuzzTextChecks(f *testing.F) {
	for _, s := range []string{"", "a", " a", "a ", "\u00a0a", "a\u2003", "\x85", "\xc2\x85", "\t\n\v\f\r ",
		" \u3000 ", "a\x7fb", "a\x1fb", "\xe2\x41", "\xff ", " \xc2", "caf\xc3\xa9", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := hasControl(s), runeHasControl(s); got != want {
			t.Errorf("hasControl(%q) = %t, want %t", s, got, want)
		}
		if got, want := isBlank(s), runeIsBlank(s); got != want {
			t.Errorf("isBlank(%q) = %t, want %t", s, got, want)
		}
		if len(s) > 0 {
			if got, want := hasSurroundingSpace(s), runeHasSurroundingSpace(s); got != want {
				t.Errorf("hasSurroundingSpace(%q) = %t, want %t", s, got, want)
			}
		}
		if !isASCII(s) {
			return
		}
		f := fieldDef{name: "f"}
		if got, want := checkID(f, s, true), checkID(f, s, false); !reflect.DeepEqual(got, want) {
			t.Errorf("checkID(%q) = %+v with ascii set, %+v without", s, got, want)
		}
		if got, want := checkText(f, s, true), checkText(f, s, false); !reflect.DeepEqual(got, want) {
			t.Errorf("checkText(%q) = %+v with ascii set, %+v without", s, got, want)
		}
	})
}

func isASCII(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// pathRecord is everything the two scanner paths must agree on for one
// record, and what parsing it as a shipment gives.
type pathRecord struct {
	rec      scanned
	members  []member
	cp       Checkpoint
	row      []value
	prob     *problem
	plainRow []value // parsed with every member's valPlain cleared
	plainPrb *problem
}

// scanPath scans in with objectInBuffer always tried (lookahead 0) or never
// (-1), taking each record's checkpoint directly (every) or through
// markCheckpoint, asking for it every third record and at the end.
func scanPath(in []byte, oneByte bool, lookahead int, every bool) ([]pathRecord, string) {
	var r io.Reader = bytes.NewReader(in)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	s := NewScanner(r)
	s.lookahead = lookahead
	p := newParser(datasets[Shipments])
	var out []pathRecord
	for s.Next() {
		pr := pathRecord{rec: scanned{Pos: s.Pos(), Record: string(s.Record()), Truncated: string(s.Truncated()),
			Problem: s.Problem(), Object: s.Problem() == "" && s.IsObject()}}
		if s.Problem() == "" {
			pr.members = append([]member(nil), s.members()...)
			var arena []byte
			pr.row, pr.prob = p.parse(s.Record(), s.IsObject(), pr.members, nil, &arena)
			general := append([]member(nil), pr.members...)
			for i := range general {
				general[i].valPlain = false
			}
			var arena2 []byte
			pr.plainRow, pr.plainPrb = p.parse(s.Record(), s.IsObject(), general, nil, &arena2)
		}
		if every {
			pr.cp = s.Checkpoint()
		} else {
			s.markCheckpoint()
			if len(out)%3 == 2 {
				pr.cp = s.markedCheckpoint()
			}
		}
		out = append(out, pr)
	}
	if !every && len(out) > 0 && out[len(out)-1].cp == (Checkpoint{}) {
		out[len(out)-1].cp = s.markedCheckpoint()
	}
	return out, fmt.Sprint(s.Err())
}

// FuzzScannerObjectPath: reading an array's objects in one pass
// (objectInBuffer) gives exactly what elementEnd and the grammar check
// give: records, problems, members, file errors and checkpoints; a lazily
// taken checkpoint is the one Checkpoint gives; and parsing a record with
// the plain-string shortcut gives what the general path gives.
func FuzzScannerObjectPath(f *testing.F) {
	for _, s := range []string{
		`{"shipment_id": "S-1", "origin": "Ramirezstad", "destination": "Gregoryview", "weight": 37.9, "cost": 139.87, "delivery_time": 15, "log_id": "L-1"}`,
		`{"shipment_id": "S-\u0031", "origin": " caf\u00e9", "destination": "Genève", "weight": 1e2, "cost": -0, "delivery_time": 15.0, "log_id": "L\t1"}`,
		`{"a": 1}, {"b": [1, {"c": "]}"}]}`,
		`{"a": "x\"}"}, {"a": "\\"}`,
		`{"a": 1 "b": 2}`,
		`{"a": [1}]`,
		`{"a": "caf` + "\xe9" + `"}`,
		`{"a": 1},`,
		`{"a": 1}] [`,
		`{"origin": "\u0000", "weight": 12345678901234567}`,
	} {
		for mode := range uint8(4) {
			f.Add([]byte(s), mode)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		in := arrayInput(b, mode)
		for _, oneByte := range []bool{false, true} {
			want, wantErr := scanPath(in, oneByte, -1, true)
			for _, every := range []bool{true, false} {
				got, gotErr := scanPath(in, oneByte, 0, every)
				if gotErr != wantErr || len(got) != len(want) {
					t.Fatalf("scanning %q (one byte at a time: %t): %d records, Err %s; without objectInBuffer %d, %s",
						in, oneByte, len(got), gotErr, len(want), wantErr)
				}
				for i := range got {
					g, w := got[i], want[i]
					if !every && g.cp == (Checkpoint{}) {
						g.cp = w.cp // not asked for
					}
					if !reflect.DeepEqual(g.rec, w.rec) || !reflect.DeepEqual(g.members, w.members) || g.cp != w.cp ||
						!reflect.DeepEqual(g.row, w.row) || !reflect.DeepEqual(g.prob, w.prob) {
						t.Fatalf("scanning %q (one byte at a time: %t, checkpoint every record: %t): record %d\n got  %+v\n want %+v",
							in, oneByte, every, i, g, w)
					}
					if !reflect.DeepEqual(g.row, g.plainRow) || !reflect.DeepEqual(g.prob, g.plainPrb) {
						t.Fatalf("parsing %q: %+v, %+v with plain strings; %+v, %+v without", g.rec.Record, g.row, g.prob, g.plainRow, g.plainPrb)
					}
					for _, m := range g.members {
						raw := []byte(g.rec.Record)[m.valStart:m.valEnd]
						plain := raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 && isASCII(raw)
						if m.valPlain != plain {
							t.Fatalf("record %q: member value %q: valPlain = %t", g.rec.Record, raw, m.valPlain)
						}
					}
				}
			}
		}
	})
}
