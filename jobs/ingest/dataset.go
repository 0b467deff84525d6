package ingest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/haul-dev/haul/internal/dataset"
)

// Dataset names one of the three input datasets.
type Dataset = dataset.Name

// The datasets, in load order (internal/dataset).
const (
	Vehicles    = dataset.Vehicles
	VehicleLogs = dataset.VehicleLogs
	Shipments   = dataset.Shipments
)

// LoadOrder lists the datasets in the order a run loads them.
var LoadOrder = dataset.LoadOrder()

type fieldKind int

const (
	kindID fieldKind = iota
	kindText
	kindNumber
	kindInteger
	kindDate
)

// Limits of docs/data.md#2-datasets.
const (
	maxIDRunes   = 64
	maxTextRunes = 100
	maxMagnitude = 1e15
	maxInteger   = math.MaxInt32
	maxMsgValue  = 200
)

type fieldDef struct {
	name string
	kind fieldKind
	// min bounds numbers from below; minExclusive makes it strict.
	min          float64
	minExclusive bool
}

// datasetDef is everything ingest knows about one dataset: its fields in
// docs/data.md order (which is also the order problems are reported in), its key,
// and the reference it must resolve.
type datasetDef struct {
	name   Dataset
	table  string
	fields []fieldDef
	key    int // index in fields
	// ref is the index of the field that must name a loaded row of
	// refTable, or -1.
	ref       int
	refReason string
}

var datasets = map[Dataset]*datasetDef{
	Vehicles: {
		name: Vehicles, table: "vehicles", key: 0, ref: -1,
		fields: []fieldDef{
			{name: "vehicle_id", kind: kindID},
			{name: "name", kind: kindText},
			{name: "total_mileage", kind: kindNumber},
		},
	},
	VehicleLogs: {
		name: VehicleLogs, table: "vehicle_logs", key: 0, ref: 1, refReason: "unknown_vehicle",
		fields: []fieldDef{
			{name: "log_id", kind: kindID},
			{name: "vehicle_id", kind: kindID},
			{name: "trip_date", kind: kindDate},
			{name: "mileage", kind: kindNumber},
			{name: "fuel_used", kind: kindNumber},
		},
	},
	Shipments: {
		name: Shipments, table: "shipments", key: 0, ref: 6, refReason: "unknown_log",
		fields: []fieldDef{
			{name: "shipment_id", kind: kindID},
			{name: "origin", kind: kindText},
			{name: "destination", kind: kindText},
			{name: "weight", kind: kindNumber, minExclusive: true},
			{name: "cost", kind: kindNumber, minExclusive: true},
			{name: "delivery_time", kind: kindInteger},
			{name: "log_id", kind: kindID},
		},
	},
}

// value is one parsed field. Strings point into their batch's arena.
type value struct {
	str []byte
	num float64
	// i holds an integer field, or a date as days since 2000-01-01
	// (PostgreSQL's epoch for binary dates).
	i int64
}

func (v value) equal(o value, k fieldKind) bool {
	switch k {
	case kindID, kindText:
		return bytes.Equal(v.str, o.str)
	case kindNumber:
		return v.num == o.num
	default:
		return v.i == o.i
	}
}

// problem is why a record is rejected.
type problem struct {
	reason, field, msg string
}

// parser turns a well-formed record into a row of values. It is reused from
// record to record and allocates nothing once warm.
type parser struct {
	def     *datasetDef
	found   []int // member index per field, -1 when absent
	keyBuf  []byte
	keyBuf2 []byte
}

func newParser(def *datasetDef) *parser {
	return &parser{def: def, found: make([]int, len(def.fields))}
}

// parse validates rec (whose top-level members the scanner found) and
// appends its values to row, copying strings into arena. The checks follow
// docs/data.md#6-rejects: structure first, then fields in docs/data.md order.
func (p *parser) parse(rec []byte, isObject bool, members []member, row []value, arena *[]byte) ([]value, *problem) {
	if !isObject {
		return row, &problem{reason: "not_an_object", msg: "record is " + describeJSON(rec) + ", not an object"}
	}
	for i := range p.found {
		p.found[i] = -1
	}
	// A cheap signature per key (length and end bytes) rules out repeated
	// keys in almost every record; only a clash pays for the pairwise check.
	var signatures uint64
	mayRepeat := false
	for mi, m := range members {
		key := p.memberKey(rec, m, &p.keyBuf)
		bit := uint64(1) << (keySignature(key) & 63)
		mayRepeat = mayRepeat || signatures&bit != 0
		signatures |= bit
		if mayRepeat {
			for mj := range mi {
				if bytes.Equal(key, p.memberKey(rec, members[mj], &p.keyBuf2)) {
					return row, &problem{reason: "duplicate_field", field: string(key), msg: fmt.Sprintf("field %q appears more than once", key)}
				}
			}
		}
		for fi, f := range p.def.fields {
			if p.found[fi] < 0 && string(key) == f.name {
				p.found[fi] = mi
			}
		}
	}
	for fi, f := range p.def.fields {
		mi := p.found[fi]
		if mi < 0 {
			return row, &problem{reason: "missing_field", field: f.name, msg: fmt.Sprintf("field %q is missing", f.name)}
		}
		raw := rec[members[mi].valStart:members[mi].valEnd]
		v, prob := parseValue(f, raw, arena)
		if prob != nil {
			return row, prob
		}
		row = append(row, v)
	}
	return row, nil
}

func keySignature(key []byte) uint {
	if len(key) == 0 {
		return 0
	}
	return uint(len(key))*31 + uint(key[0])*7 + uint(key[len(key)-1])
}

// memberKey is the member's key, unescaped into buf when it has escapes.
func (p *parser) memberKey(rec []byte, m member, buf *[]byte) []byte {
	raw := rec[m.keyStart:m.keyEnd]
	if !m.keyEscaped {
		return raw
	}
	*buf = unescape((*buf)[:0], raw)
	return *buf
}

func parseValue(f fieldDef, raw []byte, arena *[]byte) (value, *problem) {
	if raw[0] == 'n' {
		return value{}, &problem{reason: "null_field", field: f.name, msg: fmt.Sprintf("field %q is null", f.name)}
	}
	switch f.kind {
	case kindID, kindText, kindDate:
		if raw[0] != '"' {
			return value{}, wrongType(f, "a string", raw)
		}
		start := len(*arena)
		*arena = unescape(*arena, raw[1:len(raw)-1])
		s := (*arena)[start:len(*arena):len(*arena)]
		switch f.kind {
		case kindID:
			return value{str: s}, checkID(f, s)
		case kindText:
			return value{str: s}, checkText(f, s)
		default:
			*arena = (*arena)[:start]
			days, ok := parseDate(s)
			if !ok {
				return value{}, &problem{reason: "invalid_date", field: f.name, msg: fmt.Sprintf("field %q is %s, not a YYYY-MM-DD calendar date", f.name, clip(raw))}
			}
			return value{i: days}, nil
		}
	default:
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return value{}, wrongType(f, "a number", raw)
		}
		num, err := strconv.ParseFloat(unsafe.String(&raw[0], len(raw)), 64)
		if err != nil || math.Abs(num) >= maxMagnitude {
			return value{}, &problem{reason: "out_of_range", field: f.name, msg: fmt.Sprintf("field %q is %s, beyond ±1e15", f.name, clip(raw))}
		}
		if num == 0 {
			num = 0 // -0 counts as 0
		}
		if f.kind == kindInteger {
			switch {
			case num != math.Trunc(num):
				return value{}, &problem{reason: "not_integer", field: f.name, msg: fmt.Sprintf("field %q is %s, not a whole number", f.name, clip(raw))}
			case num > maxInteger:
				return value{}, &problem{reason: "out_of_range", field: f.name, msg: fmt.Sprintf("field %q is %s, above %d", f.name, clip(raw), maxInteger)}
			case num < 1:
				return value{}, &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is %s, below 1", f.name, clip(raw))}
			}
			return value{i: int64(num)}, nil
		}
		if num < f.min || (f.minExclusive && num <= f.min) {
			bound := "below 0"
			if f.minExclusive {
				bound = "not above 0"
			}
			return value{}, &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is %s, %s", f.name, clip(raw), bound)}
		}
		return value{num: num}, nil
	}
}

func wrongType(f fieldDef, want string, raw []byte) *problem {
	return &problem{reason: "wrong_type", field: f.name, msg: fmt.Sprintf("field %q must be %s, got %s %s", f.name, want, describeJSON(raw), clip(raw))}
}

func checkID(f fieldDef, s []byte) *problem {
	n := utf8.RuneCount(s)
	switch {
	case n > maxIDRunes:
		return &problem{reason: "too_long", field: f.name, msg: fmt.Sprintf("field %q has %d characters, more than %d", f.name, n, maxIDRunes)}
	case n == 0:
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is empty", f.name)}
	case bytes.IndexFunc(s, isControl) >= 0:
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q %s contains a control character", f.name, clipString(s))}
	case hasSurroundingSpace(s):
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q %s has leading or trailing whitespace", f.name, clipString(s))}
	}
	return nil
}

func checkText(f fieldDef, s []byte) *problem {
	n := utf8.RuneCount(s)
	switch {
	case n > maxTextRunes:
		return &problem{reason: "too_long", field: f.name, msg: fmt.Sprintf("field %q has %d characters, more than %d", f.name, n, maxTextRunes)}
	case len(bytes.TrimFunc(s, unicode.IsSpace)) == 0:
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is blank", f.name)}
	case bytes.IndexByte(s, 0) >= 0:
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q contains U+0000, which PostgreSQL text cannot store", f.name)}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func hasSurroundingSpace(s []byte) bool {
	first, _ := utf8.DecodeRune(s)
	last, _ := utf8.DecodeLastRune(s)
	return unicode.IsSpace(first) || unicode.IsSpace(last)
}

// pgEpoch is day 0 of PostgreSQL's binary date.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseDate reads exactly YYYY-MM-DD, a real calendar date in years
// 0001-9999, as days since 2000-01-01.
func parseDate(s []byte) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(s[0:4])
	m, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return int64(t.Sub(pgEpoch).Hours()) / 24, true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dateOf turns days since 2000-01-01 back into a date.
func dateOf(days int64) time.Time { return pgEpoch.AddDate(0, 0, int(days)) }

// unescape appends the JSON string body s (without quotes, already
// validated) to dst, decoding escapes. Invalid surrogates become U+FFFD, as
// encoding/json does.
func unescape(dst, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(s))
			s = s[4:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2 = rune(hex4(s[2:]))
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					s = s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
}

func hex4(s []byte) int {
	n := 0
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		n = n<<4 | int(c)
	}
	return n
}

// describeJSON names the JSON type of a raw value.
func describeJSON(raw []byte) string {
	raw = raw[skipWS(raw, 0):]
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// clip shortens a raw value for a message (docs/data.md#6-rejects: 200 characters).
func clip(raw []byte) string {
	if utf8.RuneCount(raw) <= maxMsgValue {
		return string(raw)
	}
	r := []rune(string(raw))
	return string(r[:maxMsgValue]) + "…"
}

func clipString(s []byte) string { return clip(strconv.AppendQuote(nil, string(s))) }
