package ingest_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/haul-dev/haul/jobs/ingest"
)

// recordCase is one NDJSON line of a dataset file and what ingest must do
// with it: reason "" loads it, "duplicate" skips and counts it, anything
// else rejects it with that reason and field (docs/data.md#91-record-level-cases).
type recordCase struct {
	name, record, reason, field string
}

var vehicleCases = []recordCase{
	{"valid", `{"vehicle_id": "V-001", "name": "Vehicle 1", "total_mileage": 355770.72}`, "", ""},
	{"valid second", `{"vehicle_id": "V-002", "name": "Vehicle 2", "total_mileage": 0}`, "", ""},
	{"R6 negative mileage", `{"vehicle_id": "V-003", "name": "x", "total_mileage": -0.01}`, "invalid_value", "total_mileage"},
	{"R18 padded id", `{"vehicle_id": " V-004", "name": "x", "total_mileage": 1}`, "invalid_value", "vehicle_id"},
	{"R18 newline in id", `{"vehicle_id": "V-0\n05", "name": "x", "total_mileage": 1}`, "invalid_value", "vehicle_id"},
	{"R25 number for string", `{"vehicle_id": 5, "name": "x", "total_mileage": 1}`, "wrong_type", "vehicle_id"},
	{"R19 backslash N kept", `{"vehicle_id": "V-006", "name": "\\N", "total_mileage": 1}`, "", ""},
	{"R22 wrong case", `{"vehicle_id": "V-007", "Name": "x", "total_mileage": 1}`, "missing_field", "name"},
	{"R20 NUL in text", `{"vehicle_id": "V-008", "name": "a\u0000b", "total_mileage": 1}`, "invalid_value", "name"},
	{"name too long", `{"vehicle_id": "V-009", "name": "` + strings.Repeat("n", 101) + `", "total_mileage": 1}`, "too_long", "name"},
	{"100 characters is fine", `{"vehicle_id": "V-010", "name": "` + strings.Repeat("é", 100) + `", "total_mileage": 1}`, "", ""},
	{"id too long", `{"vehicle_id": "` + strings.Repeat("v", 65) + `", "name": "x", "total_mileage": 1}`, "too_long", "vehicle_id"},
	{"R21 repeated field", `{"vehicle_id": "V-011", "name": "x", "total_mileage": 1, "total_mileage": 2}`, "duplicate_field", "total_mileage"},
	{"R24 number", `42`, "not_an_object", ""},
	{"R24 string", `"x"`, "not_an_object", ""},
	{"R24 null", `null`, "not_an_object", ""},
	{"R24 array", `[{"vehicle_id": "V-012"}]`, "not_an_object", ""},
	{"R15 verbatim repeat", `{"vehicle_id": "V-001", "name": "Vehicle 1", "total_mileage": 355770.72}`, "duplicate", ""},
	{"R15 same values, other text", `{"total_mileage": 3.5577072e5, "name": "Vehicle 1", "vehicle_id": "V-001"}`, "duplicate", ""},
	{"R14 same key, other values", `{"vehicle_id": "V-001", "name": "Other", "total_mileage": 1}`, "duplicate_key", "vehicle_id"},
	{"R26 nested too deep", `{"vehicle_id": "V-013", "name": "x", "total_mileage": 1, "x": ` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "record_too_large", ""},
	{"64 levels are fine", `{"vehicle_id": "V-014", "name": "x", "total_mileage": 1, "x": ` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`, "", ""},
	{"R27 malformed line", `{"vehicle_id": "V-015",`, "malformed_json", ""},
	{"R28 Latin-1 byte", "{\"vehicle_id\": \"V-016\", \"name\": \"Caf\xe9\", \"total_mileage\": 1}", "invalid_utf8", ""},
	{"R30 first problem wins", `{"vehicle_id": " V-017", "name": "", "total_mileage": -1}`, "invalid_value", "vehicle_id"},
	{"escaped key counts", `{"vehicle_id": "V-018", "n\u0061me": "x", "total_mileage": 1}`, "", ""},
	{"escaped key repeats", `{"vehicle_id": "V-019", "name": "x", "n\u0061me": "y", "total_mileage": 1}`, "duplicate_field", "name"},
	{"huge number", `{"vehicle_id": "V-020", "name": "x", "total_mileage": 1e400}`, "out_of_range", "total_mileage"},
	{"boolean", `{"vehicle_id": "V-021", "name": "x", "total_mileage": true}`, "wrong_type", "total_mileage"},
}

var logCases = []recordCase{
	{"valid", `{"log_id": "L-1", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": 254.55, "fuel_used": 78.71}`, "", ""},
	{"valid other vehicle", `{"log_id": "L-2", "vehicle_id": "V-002", "trip_date": "2023-02-13", "mileage": 10, "fuel_used": 1}`, "", ""},
	{"R2 null mileage", `{"log_id": "L-3", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": null, "fuel_used": 1}`, "null_field", "mileage"},
	{"R2 missing fuel", `{"log_id": "L-4", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": 1}`, "missing_field", "fuel_used"},
	{"R6 negative", `{"log_id": "L-5", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": -1, "fuel_used": 1}`, "invalid_value", "mileage"},
	{"R6 zeros fine", `{"log_id": "L-6", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": 0, "fuel_used": 0}`, "", ""},
	{"R9 no padding", `{"log_id": "L-7", "vehicle_id": "V-001", "trip_date": "2023-2-12", "mileage": 1, "fuel_used": 1}`, "invalid_date", "trip_date"},
	{"R9 slashes", `{"log_id": "L-8", "vehicle_id": "V-001", "trip_date": "12/02/2023", "mileage": 1, "fuel_used": 1}`, "invalid_date", "trip_date"},
	{"R9 not a day", `{"log_id": "L-9", "vehicle_id": "V-001", "trip_date": "2023-02-30", "mileage": 1, "fuel_used": 1}`, "invalid_date", "trip_date"},
	{"R9 with time", `{"log_id": "L-10", "vehicle_id": "V-001", "trip_date": "2023-02-12T10:00:00Z", "mileage": 1, "fuel_used": 1}`, "invalid_date", "trip_date"},
	{"R9 empty", `{"log_id": "L-11", "vehicle_id": "V-001", "trip_date": "", "mileage": 1, "fuel_used": 1}`, "invalid_date", "trip_date"},
	{"R10 before 2020", `{"log_id": "L-12", "vehicle_id": "V-001", "trip_date": "2019-06-01", "mileage": 1, "fuel_used": 1}`, "", ""},
	{"R10 after 2030", `{"log_id": "L-13", "vehicle_id": "V-002", "trip_date": "2031-01-01", "mileage": 1, "fuel_used": 1}`, "", ""},
	{"leap day", `{"log_id": "L-14", "vehicle_id": "V-002", "trip_date": "2024-02-29", "mileage": 1, "fuel_used": 1}`, "", ""},
	{"R11 unknown vehicle", `{"log_id": "L-15", "vehicle_id": "V-999", "trip_date": "2023-02-12", "mileage": 1, "fuel_used": 1}`, "unknown_vehicle", "vehicle_id"},
	{"R11 rejected vehicle", `{"log_id": "L-16", "vehicle_id": "V-003", "trip_date": "2023-02-12", "mileage": 1, "fuel_used": 1}`, "unknown_vehicle", "vehicle_id"},
	{"R12 null vehicle", `{"log_id": "L-17", "vehicle_id": null, "trip_date": "2023-02-12", "mileage": 1, "fuel_used": 1}`, "null_field", "vehicle_id"},
	{"number as string", `{"log_id": "L-18", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": "254.55", "fuel_used": 1}`, "wrong_type", "mileage"},
	{"R30 bad date before unknown vehicle", `{"log_id": "L-19", "vehicle_id": "V-999", "trip_date": "2023-13-01", "mileage": 1, "fuel_used": 1}`, "invalid_date", "trip_date"},
	{"R14 same key, other values", `{"log_id": "L-1", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": 999, "fuel_used": 78.71}`, "duplicate_key", "log_id"},
	{"R15 verbatim repeat", `{"log_id": "L-2", "vehicle_id": "V-002", "trip_date": "2023-02-13", "mileage": 10, "fuel_used": 1}`, "duplicate", ""},
	{"-0 is 0", `{"log_id": "L-20", "vehicle_id": "V-002", "trip_date": "2023-03-01", "mileage": -0, "fuel_used": 0.0}`, "", ""},
}

var shipmentCases = []recordCase{
	{"valid", `{"shipment_id": "S-1", "origin": "Ramirezstad", "destination": "Gregoryview", "weight": 37.9, "cost": 139.87, "delivery_time": 15, "log_id": "L-1"}`, "", ""},
	{"R1 no log_id", `{"shipment_id": "S-2", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1}`, "missing_field", "log_id"},
	{"R3 number as string", `{"shipment_id": "S-3", "origin": "A", "destination": "B", "weight": "37.9", "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "wrong_type", "weight"},
	{"R4 NaN", `{"shipment_id": "S-4", "origin": "A", "destination": "B", "weight": 1, "cost": "NaN", "delivery_time": 1, "log_id": "L-1"}`, "wrong_type", "cost"},
	{"R4 Infinity", `{"shipment_id": "S-5", "origin": "A", "destination": "B", "weight": 1, "cost": "Infinity", "delivery_time": 1, "log_id": "L-1"}`, "wrong_type", "cost"},
	{"R5 zero weight", `{"shipment_id": "S-6", "origin": "A", "destination": "B", "weight": 0, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "invalid_value", "weight"},
	{"R5 negative cost", `{"shipment_id": "S-7", "origin": "A", "destination": "B", "weight": 1, "cost": -5, "delivery_time": 1, "log_id": "L-1"}`, "invalid_value", "cost"},
	{"R5 zero delivery time", `{"shipment_id": "S-8", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 0, "log_id": "L-1"}`, "invalid_value", "delivery_time"},
	{"R7 fraction", `{"shipment_id": "S-9", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 15.5, "log_id": "L-1"}`, "not_integer", "delivery_time"},
	{"R7 15.0 is 15", `{"shipment_id": "S-10", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 15.0, "log_id": "L-2"}`, "", ""},
	{"1.5e1 is 15", `{"shipment_id": "S-11", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1.5e1, "log_id": "L-2"}`, "", ""},
	{"R8 huge delivery time", `{"shipment_id": "S-12", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1e10, "log_id": "L-1"}`, "out_of_range", "delivery_time"},
	{"R8 huge weight", `{"shipment_id": "S-13", "origin": "A", "destination": "B", "weight": 1e20, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "out_of_range", "weight"},
	{"R13 orphan", `{"shipment_id": "S-14", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-404"}`, "unknown_log", "log_id"},
	{"R13 log that was rejected", `{"shipment_id": "S-15", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-3"}`, "unknown_log", "log_id"},
	{"R17 empty origin", `{"shipment_id": "S-16", "origin": "", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "invalid_value", "origin"},
	{"R17 blank origin", `{"shipment_id": "S-17", "origin": "   ", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "invalid_value", "origin"},
	{"R17 long destination", `{"shipment_id": "S-18", "origin": "A", "destination": "` + strings.Repeat("D", 101) + `", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "too_long", "destination"},
	{"R19 tab and newline kept", `{"shipment_id": "S-19", "origin": "A\tB", "destination": "a\nb", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-13"}`, "", ""},
	{"R20 NUL", `{"shipment_id": "S-20", "origin": "A\u0000", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "invalid_value", "origin"},
	{"R21 repeated field", `{"shipment_id": "S-21", "origin": "A", "destination": "B", "weight": 1, "weight": 2, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "duplicate_field", "weight"},
	{"R22 wrong case", `{"shipment_id": "S-22", "origin": "A", "destination": "B", "Weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "missing_field", "weight"},
	{"R23 unknown field", `{"shipment_id": "S-23", "origin": "A", "destination": "A", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-1", "note": "fragile"}`, "", ""},
	{"R25 number for string", `{"shipment_id": "S-24", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": 5}`, "wrong_type", "log_id"},
	{"R30 first problem wins", `{"shipment_id": "S-25", "origin": "A", "destination": "B", "weight": "1", "cost": 0, "delivery_time": 1, "log_id": "L-404"}`, "wrong_type", "weight"},
	{"R14 same key, other values", `{"shipment_id": "S-1", "origin": "Ramirezstad", "destination": "Gregoryview", "weight": 37.9, "cost": 1, "delivery_time": 15, "log_id": "L-1"}`, "duplicate_key", "shipment_id"},
	{"R15 verbatim", `{"shipment_id": "S-1", "origin": "Ramirezstad", "destination": "Gregoryview", "weight": 37.9, "cost": 139.87, "delivery_time": 15, "log_id": "L-1"}`, "duplicate", ""},
	{"object nested in value", `{"shipment_id": "S-26", "origin": {"v": 1}, "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": "L-1"}`, "wrong_type", "origin"},
	{"R29 last line cut off", `{"shipment_id": "S-27", "origin": "A", "dest`, "malformed_json", ""},
}

// TestRecordCases loads one file per dataset holding every case of docs/data.md
// 9.1 and checks each record's fate, its reject line, and the report.
func TestRecordCases(t *testing.T) {
	e := newEnv(t)
	files := map[ingest.Dataset][]recordCase{
		ingest.Vehicles: vehicleCases, ingest.VehicleLogs: logCases, ingest.Shipments: shipmentCases,
	}
	inputs := map[ingest.Dataset][]string{}
	for ds, cases := range files {
		var recs []string
		for _, c := range cases {
			recs = append(recs, c.record)
		}
		content := lines(recs...)
		if ds == ingest.Shipments {
			content = strings.TrimSuffix(content, "\n") // R29: no newline after the cut-off line
		}
		inputs[ds] = []string{e.file(string(ds)+".ndjson", content)}
	}
	report := e.mustRun(ingest.Options{Inputs: inputs, BatchSize: 7})

	for _, ds := range ingest.LoadOrder {
		cases := files[ds]
		dr := datasetReport(t, report, ds)
		rejects := readRejects(t, dr.RejectsFile)
		byIndex := map[int64]rejectLine{}
		for _, r := range rejects {
			if _, dup := byIndex[r.Index]; dup {
				t.Errorf("%s: two rejects for record %d", ds, r.Index)
			}
			byIndex[r.Index] = r
		}
		var loaded, duplicates, rejected int64
		for i, c := range cases {
			r, isRejected := byIndex[int64(i)]
			switch c.reason {
			case "", "duplicate":
				if isRejected {
					t.Errorf("%s %q: rejected (%s, %s: %s), want accepted", ds, c.name, r.Reason, ptr.Deref(r.Field, "<null>"), r.Message)
				}
				if c.reason == "" {
					loaded++
				} else {
					duplicates++
				}
			default:
				rejected++
				if !isRejected {
					t.Errorf("%s %q: not rejected, want %s", ds, c.name, c.reason)
					continue
				}
				wantField := c.field
				if wantField == "" {
					wantField = "<null>"
				}
				if r.Reason != c.reason || ptr.Deref(r.Field, "<null>") != wantField {
					t.Errorf("%s %q: rejected as %s/%s (%s), want %s/%s", ds, c.name, r.Reason, ptr.Deref(r.Field, "<null>"), r.Message, c.reason, c.field)
				}
				checkRejectLine(t, ds, inputs[ds][0], i, c, r)
			}
		}
		if dr.Read != int64(len(cases)) || dr.Loaded != loaded || dr.Duplicates != duplicates || dr.Rejected != rejected {
			t.Errorf("%s report: read %d loaded %d duplicates %d rejected %d; want %d, %d, %d, %d",
				ds, dr.Read, dr.Loaded, dr.Duplicates, dr.Rejected, len(cases), loaded, duplicates, rejected)
		}
		if n := e.count("SELECT count(*) FROM " + string(ds)); n != loaded {
			t.Errorf("%s table holds %d rows, want %d", ds, n, loaded)
		}
	}

	// Stored exactly as given, and a shipment takes its date and vehicle
	// from its log.
	var name, origin, destination, tripDate, vehicle string
	var dt int
	if err := e.Pool.QueryRow(t.Context(), `SELECT name FROM vehicles WHERE vehicle_id = 'V-006'`).Scan(&name); err != nil || name != `\N` {
		t.Errorf(`V-006 name = %q (%v), want the two characters \N`, name, err)
	}
	err := e.Pool.QueryRow(t.Context(), `SELECT origin, destination, trip_date::text, vehicle_id, delivery_time FROM shipments WHERE shipment_id = 'S-19'`).
		Scan(&origin, &destination, &tripDate, &vehicle, &dt)
	if err != nil || origin != "A\tB" || destination != "a\nb" || tripDate != "2031-01-01" || vehicle != "V-002" {
		t.Errorf("S-19 = %q %q %s %s (%v); want A<tab>B, a<newline>b, L-13's date 2031-01-01 and vehicle V-002", origin, destination, tripDate, vehicle, err)
	}
	if err := e.Pool.QueryRow(t.Context(), `SELECT delivery_time FROM shipments WHERE shipment_id = 'S-10'`).Scan(&dt); err != nil || dt != 15 {
		t.Errorf("S-10 delivery_time = %d (%v), want 15", dt, err)
	}
	if n := e.count(`SELECT count(*) FROM precalc_dirty_days`); n == 0 {
		t.Error("no dirty days recorded for precalc")
	}
}

func checkRejectLine(t *testing.T, ds ingest.Dataset, file string, i int, c recordCase, r rejectLine) {
	t.Helper()
	offset := int64(0)
	for _, prev := range casesOf(ds)[:i] {
		offset += int64(len(prev.record)) + 1
	}
	if r.Run != "test-run" || r.Dataset != string(ds) || r.File != file || r.Line != int64(i+1) || r.Offset != offset {
		t.Errorf("%s %q: reject at run %q dataset %q file %q line %d offset %d; want test-run, %s, %s, line %d, offset %d",
			ds, c.name, r.Run, r.Dataset, r.File, r.Line, r.Offset, ds, file, i+1, offset)
	}
	if r.Message == "" {
		t.Errorf("%s %q: reject has no message", ds, c.name)
	}
	switch {
	case r.RecordBase64 != nil:
		if c.reason != "invalid_utf8" {
			t.Errorf("%s %q: record given as base64", ds, c.name)
		}
	case r.Record == nil || *r.Record != c.record:
		t.Errorf("%s %q: reject's record = %v, want the original text %q", ds, c.name, ptr.Deref(r.Record, "<null>"), c.record)
	}
}

func casesOf(ds ingest.Dataset) []recordCase {
	switch ds {
	case ingest.Vehicles:
		return vehicleCases
	case ingest.VehicleLogs:
		return logCases
	}
	return shipmentCases
}

// R15/R16: loading the same files again changes nothing and rejects nothing
// new; a vehicle re-delivered by a later run with new values replaces the
// stored one.
func TestRerunIsNoOpAndVehiclesAreReplaced(t *testing.T) {
	e := newEnv(t)
	vehicles := e.file("v.json", `[{"vehicle_id": "V-1", "name": "One", "total_mileage": 10}, {"vehicle_id": "V-2", "name": "Two", "total_mileage": 20}]`)
	logs := e.file("l.json", `[{"log_id": "L-1", "vehicle_id": "V-1", "trip_date": "2024-01-01", "mileage": 5, "fuel_used": 1}]`)
	shipments := e.file("s.json", `[{"shipment_id": "S-1", "origin": "A", "destination": "B", "weight": 1, "cost": 2, "delivery_time": 3, "log_id": "L-1"}]`)
	inputs := map[ingest.Dataset][]string{ingest.Vehicles: {vehicles}, ingest.VehicleLogs: {logs}, ingest.Shipments: {shipments}}
	e.mustRun(ingest.Options{RunID: "first", Inputs: inputs})
	second := e.mustRun(ingest.Options{RunID: "second", Inputs: inputs})
	for _, d := range second.Datasets {
		if d.Loaded != 0 || d.Rejected != 0 || d.Duplicates != d.Read {
			t.Errorf("second load of the same %s: %+v; want every record a duplicate", d.Dataset, d)
		}
	}

	redelivered := e.file("v2.json", `[{"vehicle_id": "V-1", "name": "One renamed", "total_mileage": 15}]`)
	third := e.mustRun(ingest.Options{RunID: "third", Inputs: map[ingest.Dataset][]string{ingest.Vehicles: {redelivered}}})
	if d := datasetReport(t, third, ingest.Vehicles); d.Loaded != 1 || d.Rejected != 0 {
		t.Errorf("re-delivered vehicle: %+v; want it loaded", d)
	}
	var name string
	var mileage float64
	if err := e.Pool.QueryRow(t.Context(), `SELECT name, total_mileage FROM vehicles WHERE vehicle_id = 'V-1'`).Scan(&name, &mileage); err != nil || name != "One renamed" || mileage != 15 {
		t.Errorf("V-1 = %q %v (%v); want the re-delivered values", name, mileage, err)
	}
	if n := e.count(`SELECT count(*) FROM vehicles`); n != 2 {
		t.Errorf("%d vehicles, want 2", n)
	}
}

// Runs of one group (the pods of one IngestionRun, a file each) count as
// one run for vehicles: a conflicting vehicle in a later file of the group
// is rejected, as it would be in one run, not replacing the first.
func TestVehiclesOfOneGroupAreNotReplaced(t *testing.T) {
	e := newEnv(t)
	first := e.file("v1.json", `[{"vehicle_id": "V-1", "name": "One", "total_mileage": 10}]`)
	second := e.file("v2.json", `[{"vehicle_id": "V-1", "name": "Uno", "total_mileage": 11}, {"vehicle_id": "V-2", "name": "Two", "total_mileage": 20}]`)
	e.mustRun(ingest.Options{RunID: "g-0", Group: "g", Inputs: map[ingest.Dataset][]string{ingest.Vehicles: {first}}})
	report, err := e.run(ingest.Options{RunID: "g-1", Group: "g", Inputs: map[ingest.Dataset][]string{ingest.Vehicles: {second}}})
	if err != nil {
		t.Fatal(err)
	}
	d := datasetReport(t, report, ingest.Vehicles)
	if d.Loaded != 1 || d.RejectedByReason["duplicate_key"] != 1 {
		t.Errorf("second file of the group: %+v; want V-2 loaded and V-1 rejected as duplicate_key", d)
	}
	var name string
	if err := e.Pool.QueryRow(t.Context(), `SELECT name FROM vehicles WHERE vehicle_id = 'V-1'`).Scan(&name); err != nil || name != "One" {
		t.Errorf("V-1 named %q (%v); want the first file's One", name, err)
	}

	// Another group is a later run: its vehicle replaces the stored one.
	e.mustRun(ingest.Options{RunID: "h-0", Group: "h", Inputs: map[ingest.Dataset][]string{ingest.Vehicles: {second}}})
	if err := e.Pool.QueryRow(t.Context(), `SELECT name FROM vehicles WHERE vehicle_id = 'V-1'`).Scan(&name); err != nil || name != "Uno" {
		t.Errorf("V-1 named %q (%v) after another group; want Uno", name, err)
	}
}

func TestMaxRejectsStopsTheRun(t *testing.T) {
	e := newEnv(t)
	var recs []string
	for i := range 50 {
		recs = append(recs, fmt.Sprintf(`{"vehicle_id": "V-%d", "name": "x", "total_mileage": %d}`, i, i%5-1))
	}
	path := e.file("v.ndjson", lines(recs...))
	report, err := e.run(ingest.Options{Inputs: map[ingest.Dataset][]string{ingest.Vehicles: {path}}, BatchSize: 10,
		MaxRejects: mustThreshold(t, "3")})
	if err == nil || !strings.Contains(err.Error(), "too many rejects") || report.Succeeded() {
		t.Fatalf("run with 10 rejects and --max-rejects 3: %v; want it failed", err)
	}
	// The batch that crossed the threshold (the second: 4 rejects)
	// committed; nothing after it.
	if n := e.count(`SELECT count(*) FROM vehicles`); n != 16 {
		t.Errorf("%d vehicles loaded, want the first two batches' 16", n)
	}
}

func mustThreshold(t *testing.T, s string) ingest.Threshold {
	t.Helper()
	th, err := ingest.ParseThreshold(s)
	if err != nil {
		t.Fatal(err)
	}
	return th
}
