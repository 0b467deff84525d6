package ingest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

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
	for mi := range members {
		key := p.memberKey(rec, &members[mi], &p.keyBuf)
		bit := uint64(1) << (keySignature(key) & 63)
		mayRepeat = mayRepeat || signatures&bit != 0
		signatures |= bit
		if mayRepeat {
			for mj := range mi {
				if bytes.Equal(key, p.memberKey(rec, &members[mj], &p.keyBuf2)) {
					return row, &problem{reason: "duplicate_field", field: string(key), msg: fmt.Sprintf("field %q appears more than once", key)}
				}
			}
		}
		if fi := p.fieldIndex(key, mi); fi >= 0 && p.found[fi] < 0 {
			p.found[fi] = mi
		}
	}
	for fi := range p.def.fields {
		f := &p.def.fields[fi]
		mi := p.found[fi]
		if mi < 0 {
			return row, &problem{reason: "missing_field", field: f.name, msg: fmt.Sprintf("field %q is missing", f.name)}
		}
		m := &members[mi]
		v, prob := parseValue(f, rec[m.valStart:m.valEnd], m.valPlain, arena)
		if prob != nil {
			return row, prob
		}
		row = append(row, v)
	}
	return row, nil
}

// fieldIndex is the index of the field named key, or -1. Records usually
// list the fields in docs/data.md order, so the field at hint is tried first.
func (p *parser) fieldIndex(key []byte, hint int) int {
	fields := p.def.fields
	if hint < len(fields) && string(key) == fields[hint].name {
		return hint
	}
	for fi := range fields {
		if string(key) == fields[fi].name {
			return fi
		}
	}
	return -1
}

func keySignature(key []byte) uint {
	if len(key) == 0 {
		return 0
	}
	return uint(len(key))*31 + uint(key[0])*7 + uint(key[len(key)-1])
}

// memberKey is the member's key, unescaped into buf when it has escapes.
func (p *parser) memberKey(rec []byte, m *member, buf *[]byte) []byte {
	raw := rec[m.keyStart:m.keyEnd]
	if !m.keyEscaped {
		return raw
	}
	*buf = unescape((*buf)[:0], raw)
	return *buf
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
