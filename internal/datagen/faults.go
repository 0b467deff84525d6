package datagen

import (
	"strconv"
	"strings"
)

// A fault is one kind of bad (or merely odd) record from docs/data.md#91-record-level-cases
// that --faults plants, with the outcome ingest must report for it.
type fault struct {
	name string
	// reason is the reject reason ingest must give; "" means the record is
	// odd but valid and must load.
	reason string
	// ndjsonOnly faults cannot be planted in a JSON array: there they are
	// file-level errors (docs/data.md#92-file-level-cases), not record rejects.
	ndjsonOnly bool
	kind       faultKind
	// apply mutates a well-formed record of the dataset; nil for the
	// duplicate kinds.
	apply func(r *record, x *rng, index int64)
}

type faultKind int

const (
	mutate faultKind = iota
	// dupIdentical writes the record, then the same record again (R15):
	// counted as a duplicate.
	dupIdentical
	// dupKey writes the record, then one with the same key and different
	// content (R14): the second is rejected as duplicate_key.
	dupKey
	// blankLine writes a blank line before the record: NDJSON skips it.
	blankLine
)

func setRaw(key, raw string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) { r.set(key, raw) }
}

func setString(key, s string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) { r.set(key, string(appendJSONString(nil, s))) }
}

func drop(key string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) { r.remove(key) }
}

func rename(from, to string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) { r.rename(from, to) }
}

// repeatField writes key twice, with another value the second time (R21).
func repeatField(key, raw string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) { r.addRaw(key, raw) }
}

func both(a, b func(*record, *rng, int64)) func(*record, *rng, int64) {
	return func(r *record, x *rng, i int64) { a(r, x, i); b(r, x, i) }
}

func notAnObject(r *record, x *rng, _ int64) {
	values := []string{`42`, `"x"`, `null`, `[1, 2]`, `true`}
	r.verbatim = []byte(values[x.intn(int64(len(values)))])
}

// tooDeep nests 70 arrays inside the record: deeper than the 64 levels ingest
// accepts (R26).
func tooDeep(r *record, _ *rng, _ int64) {
	r.addRaw("extra", strings.Repeat("[", 70)+strings.Repeat("]", 70))
}

// cutLine keeps the first field and a dangling comma: not one JSON value (R27).
func cutLine(r *record, _ *rng, _ int64) {
	f := r.fields[0]
	b := appendJSONString([]byte("{"), f.key)
	b = append(append(b, ": "...), f.raw...)
	b = append(b, ',')
	r.verbatim = b
}

// latin1 puts a Latin-1 "é" (byte E9, invalid as UTF-8) into a string (R28).
func latin1(key string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) { r.set(key, "\"Caf\xe9\"") }
}

// withInt renders a per-record value, e.g. a reference to a missing row.
func withInt(key, prefix string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, i int64) {
		r.set(key, string(appendJSONString(nil, prefix+strconv.FormatInt(i+1, 10))))
	}
}

// exactFloat rewrites a value as the same number with a ".0" fraction.
func exactFloat(key string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) { r.set(key, string(r.get(key))+".0") }
}

// exponent rewrites an integer-valued field in exponent form: 15 -> 1.5e1.
func exponent(key string) func(*record, *rng, int64) {
	return func(r *record, _ *rng, _ int64) {
		v, _ := strconv.ParseFloat(string(r.get(key)), 64)
		r.set(key, strconv.FormatFloat(v, 'e', -1, 64))
	}
}

// Shared by every dataset.
var commonFaults = []fault{
	{name: "not_an_object", reason: "not_an_object", apply: notAnObject},
	{name: "nested_too_deep", reason: "record_too_large", apply: tooDeep},
	{name: "duplicate_identical", kind: dupIdentical},
	{name: "duplicate_key", reason: "duplicate_key", kind: dupKey},
	{name: "unknown_field", apply: setString("note", "fragile")},
	{name: "malformed_line", reason: "malformed_json", ndjsonOnly: true, apply: cutLine},
	{name: "blank_line", ndjsonOnly: true, kind: blankLine},
}

var vehicleFaults = append([]fault{
	{name: "missing_name", reason: "missing_field", apply: drop("name")},
	{name: "null_total_mileage", reason: "null_field", apply: setRaw("total_mileage", "null")},
	{name: "total_mileage_as_string", reason: "wrong_type", apply: setRaw("total_mileage", `"355770.72"`)},
	{name: "negative_total_mileage", reason: "invalid_value", apply: setRaw("total_mileage", "-0.01")},
	{name: "huge_total_mileage", reason: "out_of_range", apply: setRaw("total_mileage", "1e20")},
	{name: "empty_name", reason: "invalid_value", apply: setString("name", "")},
	{name: "blank_name", reason: "invalid_value", apply: setString("name", "   ")},
	{name: "long_name", reason: "too_long", apply: setString("name", strings.Repeat("N", 101))},
	{name: "padded_vehicle_id", reason: "invalid_value", apply: func(r *record, _ *rng, _ int64) {
		r.set("vehicle_id", `" `+strings.Trim(string(r.get("vehicle_id")), `"`)+`"`)
	}},
	{name: "numeric_vehicle_id", reason: "wrong_type", apply: setRaw("vehicle_id", "5")},
	{name: "repeated_field", reason: "duplicate_field", apply: repeatField("total_mileage", "1.5")},
	{name: "capitalised_name", reason: "missing_field", apply: rename("name", "Name")},
	{name: "name_with_tab_and_backslash_n", apply: setString("name", "Truck\t\\N")},
	{name: "zero_total_mileage", apply: setRaw("total_mileage", "0")},
	{name: "invalid_utf8", reason: "invalid_utf8", ndjsonOnly: true, apply: latin1("name")},
}, commonFaults...)

var logFaults = append([]fault{
	{name: "missing_fuel_used", reason: "missing_field", apply: drop("fuel_used")},
	{name: "null_mileage", reason: "null_field", apply: setRaw("mileage", "null")},
	{name: "null_vehicle_id", reason: "null_field", apply: setRaw("vehicle_id", "null")},
	{name: "unknown_vehicle", reason: "unknown_vehicle", apply: withInt("vehicle_id", "V-UNKNOWN-")},
	{name: "date_no_padding", reason: "invalid_date", apply: setString("trip_date", "2023-2-12")},
	{name: "date_slashes", reason: "invalid_date", apply: setString("trip_date", "12/02/2023")},
	{name: "date_not_in_calendar", reason: "invalid_date", apply: setString("trip_date", "2023-02-30")},
	{name: "date_with_time", reason: "invalid_date", apply: setString("trip_date", "2023-02-12T10:00:00Z")},
	{name: "date_empty", reason: "invalid_date", apply: setString("trip_date", "")},
	{name: "date_before_2020", apply: setString("trip_date", "2019-06-01")},
	{name: "date_after_2030", apply: setString("trip_date", "2031-01-01")},
	{name: "negative_mileage", reason: "invalid_value", apply: setRaw("mileage", "-1")},
	{name: "zero_mileage_and_fuel", apply: both(setRaw("mileage", "0"), setRaw("fuel_used", "0"))},
	{name: "negative_zero_mileage", apply: setRaw("mileage", "-0")},
	{name: "padded_vehicle_id", reason: "invalid_value", apply: setString("vehicle_id", " V-001")},
	{name: "vehicle_id_with_newline", reason: "invalid_value", apply: setString("vehicle_id", "V-0\n01")},
	{name: "numeric_vehicle_id", reason: "wrong_type", apply: setRaw("vehicle_id", "5")},
	{name: "long_log_id", reason: "too_long", apply: setString("log_id", "L-"+strings.Repeat("9", 63))},
	{name: "mileage_as_string", reason: "wrong_type", apply: setRaw("mileage", `"254.55"`)},
	{name: "huge_mileage", reason: "out_of_range", apply: setRaw("mileage", "1e16")},
	{name: "repeated_field", reason: "duplicate_field", apply: repeatField("mileage", "1.5")},
	// Several problems: the first in field order wins (R30).
	{name: "bad_date_and_unknown_vehicle", reason: "invalid_date",
		apply: both(setString("trip_date", "2023-13-01"), withInt("vehicle_id", "V-UNKNOWN-"))},
	{name: "mileage_as_string_and_negative_fuel", reason: "wrong_type",
		apply: both(setRaw("mileage", `"x"`), setRaw("fuel_used", "-1"))},
	{name: "invalid_utf8", reason: "invalid_utf8", ndjsonOnly: true, apply: latin1("vehicle_id")},
}, commonFaults...)

var shipmentFaults = append([]fault{
	{name: "missing_log_id", reason: "missing_field", apply: drop("log_id")},
	{name: "weight_as_string", reason: "wrong_type", apply: setRaw("weight", `"37.9"`)},
	{name: "cost_nan", reason: "wrong_type", apply: setRaw("cost", `"NaN"`)},
	{name: "cost_infinity", reason: "wrong_type", apply: setRaw("cost", `"Infinity"`)},
	{name: "zero_weight", reason: "invalid_value", apply: setRaw("weight", "0")},
	{name: "negative_cost", reason: "invalid_value", apply: setRaw("cost", "-5")},
	{name: "zero_delivery_time", reason: "invalid_value", apply: setRaw("delivery_time", "0")},
	{name: "fractional_delivery_time", reason: "not_integer", apply: setRaw("delivery_time", "15.5")},
	{name: "delivery_time_with_fraction_zero", apply: exactFloat("delivery_time")},
	{name: "delivery_time_in_exponent_form", apply: exponent("delivery_time")},
	{name: "huge_delivery_time", reason: "out_of_range", apply: setRaw("delivery_time", "1e10")},
	{name: "huge_weight", reason: "out_of_range", apply: setRaw("weight", "1e20")},
	{name: "orphan", reason: "unknown_log", apply: withInt("log_id", "L-ORPHAN-")},
	{name: "empty_origin", reason: "invalid_value", apply: setString("origin", "")},
	{name: "blank_origin", reason: "invalid_value", apply: setString("origin", "   ")},
	{name: "long_destination", reason: "too_long", apply: setString("destination", strings.Repeat("D", 101))},
	{name: "tab_and_newline_in_route", apply: both(setString("origin", "A\tB"), setString("destination", "a\nb"))},
	{name: "nul_in_origin", reason: "invalid_value", apply: setString("origin", "Ab\x00c")},
	{name: "repeated_field", reason: "duplicate_field", apply: repeatField("weight", "2")},
	{name: "capitalised_weight", reason: "missing_field", apply: rename("weight", "Weight")},
	{name: "numeric_log_id", reason: "wrong_type", apply: setRaw("log_id", "5")},
	{name: "weight_as_string_and_zero_cost", reason: "wrong_type",
		apply: both(setRaw("weight", `"1"`), setRaw("cost", "0"))},
	{name: "invalid_utf8", reason: "invalid_utf8", ndjsonOnly: true, apply: latin1("origin")},
}, commonFaults...)

// changeForDupKey makes a record differ from its original while keeping its key.
var changeForDupKey = map[Dataset]func(*record){
	Vehicles:    func(r *record) { r.set("name", `"Vehicle renamed"`) },
	VehicleLogs: func(r *record) { r.set("mileage", "9999.5") },
	Shipments:   func(r *record) { r.set("cost", "99999.5") },
}

// faultsFor lists the faults that can be planted in a dataset in a format.
func faultsFor(ds Dataset, format Format) []fault {
	var all []fault
	switch ds {
	case Vehicles:
		all = vehicleFaults
	case VehicleLogs:
		all = logFaults
	case Shipments:
		all = shipmentFaults
	}
	out := make([]fault, 0, len(all))
	for _, f := range all {
		if !f.ndjsonOnly || format == FormatNDJSON {
			out = append(out, f)
		}
	}
	return out
}
