package datagen_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/testutil"
)

// This file is an independent reading of docs/data.md's validation rules, written
// for the tests only: it classifies every record of a generated file so the
// generator's answer key can be checked against the files it wrote.

type fieldKind int

const (
	kindID fieldKind = iota
	kindText
	kindNumber
	kindDate
	kindInt
)

type fieldSpec struct {
	name string
	kind fieldKind
	// min is the smallest allowed number; strict excludes it.
	min    float64
	strict bool
}

var specs = map[datagen.Dataset][]fieldSpec{
	datagen.Vehicles: {
		{name: "vehicle_id", kind: kindID},
		{name: "name", kind: kindText},
		{name: "total_mileage", kind: kindNumber},
	},
	datagen.VehicleLogs: {
		{name: "log_id", kind: kindID},
		{name: "vehicle_id", kind: kindID},
		{name: "trip_date", kind: kindDate},
		{name: "mileage", kind: kindNumber},
		{name: "fuel_used", kind: kindNumber},
	},
	datagen.Shipments: {
		{name: "shipment_id", kind: kindID},
		{name: "origin", kind: kindText},
		{name: "destination", kind: kindText},
		{name: "weight", kind: kindNumber, strict: true},
		{name: "cost", kind: kindNumber, strict: true},
		{name: "delivery_time", kind: kindInt},
		{name: "log_id", kind: kindID},
	},
}

// keyField and refField name each dataset's key and the reference it must resolve.
var (
	keyField  = map[datagen.Dataset]string{datagen.Vehicles: "vehicle_id", datagen.VehicleLogs: "log_id", datagen.Shipments: "shipment_id"}
	refField  = map[datagen.Dataset]string{datagen.VehicleLogs: "vehicle_id", datagen.Shipments: "log_id"}
	refReason = map[datagen.Dataset]string{datagen.VehicleLogs: "unknown_vehicle", datagen.Shipments: "unknown_log"}
)

// outcome is what the oracle expects for a whole file.
type outcome struct {
	read, loaded, duplicates int64
	rejected                 map[string]int64
	keys                     map[string]bool // keys of loaded records
	records                  []map[string]any
}

// oracle reads a dataset file and classifies its records. loadedRefs holds
// the keys of the dataset this one references.
func oracle(t *testing.T, path string, ds datagen.Dataset, loadedRefs map[string]bool) outcome {
	t.Helper()
	data := readAll(t, path)
	out := outcome{rejected: map[string]int64{}, keys: map[string]bool{}}
	seen := map[string]string{} // key -> canonical content
	classify := func(raw []byte, reason string) {
		out.read++
		var fields map[string]any
		if reason == "" {
			reason, fields = checkRecord(raw, ds)
		}
		if reason == "" {
			key := fields[keyField[ds]].(string)
			canon := canonical(fields, ds)
			if prev, ok := seen[key]; ok {
				if prev == canon {
					out.duplicates++
					return
				}
				reason = "duplicate_key"
			} else if ref := refField[ds]; ref != "" && !loadedRefs[fields[ref].(string)] {
				reason = refReason[ds]
			} else {
				seen[key] = canon
			}
		}
		if reason != "" {
			out.rejected[reason]++
			return
		}
		out.loaded++
		out.keys[fields[keyField[ds]].(string)] = true
		out.records = append(out.records, fields)
	}

	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '[':
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if _, err := dec.Token(); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatalf("%s: array element %d: %v", path, out.read, err)
			}
			classify(raw, "")
		}
		if _, err := dec.Token(); err != nil {
			t.Fatalf("%s: closing bracket: %v", path, err)
		}
	case trimmed[0] == '{':
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case len(bytes.TrimSpace(line)) == 0:
			case !utf8.Valid(line):
				classify(line, "invalid_utf8")
			case !json.Valid(line):
				classify(line, "malformed_json")
			default:
				classify(line, "")
			}
		}
	default:
		t.Fatalf("%s: neither a JSON array nor NDJSON", path)
	}
	return out
}

// readAll returns the content of the file at path, gunzipped when its name
// ends in .gz.
func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b := testutil.ReadFile(t, path)
	if !strings.HasSuffix(path, ".gz") {
		return b
	}
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = io.ReadAll(gz); err != nil {
		t.Fatal(err)
	}
	return b
}

var datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// checkRecord returns the reject reason of a record before duplicate and
// reference checks, or its parsed fields.
func checkRecord(raw []byte, ds datagen.Dataset) (string, map[string]any) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return "not_an_object", nil
	}
	if len(raw) > 1<<20 || testutil.JSONDepth(raw) > 64 {
		return "record_too_large", nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_, _ = dec.Token()
	fields := map[string]any{}
	for dec.More() {
		tok, _ := dec.Token()
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return "malformed_json", nil
		}
		if _, dup := fields[key]; dup {
			return "duplicate_field", nil
		}
		fields[key] = v
	}
	parsed := map[string]any{}
	for _, spec := range specs[ds] {
		v, ok := fields[spec.name]
		if !ok {
			return "missing_field", nil
		}
		if v == nil {
			return "null_field", nil
		}
		value, reason := checkValue(spec, v)
		if reason != "" {
			return reason, nil
		}
		parsed[spec.name] = value
	}
	return "", parsed
}

func checkValue(spec fieldSpec, v any) (any, string) {
	switch spec.kind {
	case kindID, kindText, kindDate:
		s, ok := v.(string)
		if !ok {
			return nil, "wrong_type"
		}
		n := utf8.RuneCountInString(s)
		switch spec.kind {
		case kindID:
			if n > 64 {
				return nil, "too_long"
			}
			if n == 0 || strings.TrimSpace(s) != s || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
				return nil, "invalid_value"
			}
		case kindText:
			if n > 100 {
				return nil, "too_long"
			}
			if strings.TrimFunc(s, unicode.IsSpace) == "" || strings.ContainsRune(s, 0) {
				return nil, "invalid_value"
			}
		case kindDate:
			if _, err := time.Parse(datagen.DateLayout, s); err != nil || !datePattern.MatchString(s) {
				return nil, "invalid_date"
			}
		}
		return s, ""
	default:
		num, ok := v.(json.Number)
		if !ok {
			return nil, "wrong_type"
		}
		f, err := num.Float64()
		if err != nil || math.IsInf(f, 0) || math.Abs(f) >= 1e15 {
			return nil, "out_of_range"
		}
		if spec.kind == kindInt {
			if f != math.Trunc(f) {
				return nil, "not_integer"
			}
			if f > math.MaxInt32 {
				return nil, "out_of_range"
			}
			if f < 1 {
				return nil, "invalid_value"
			}
			return f, ""
		}
		if f < spec.min || (spec.strict && f <= spec.min) {
			return nil, "invalid_value"
		}
		return f, ""
	}
}

func canonical(fields map[string]any, ds datagen.Dataset) string {
	var b strings.Builder
	for _, spec := range specs[ds] {
		fmt.Fprintf(&b, "%v\x00", fields[spec.name])
	}
	return b.String()
}
