package ingest_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/mddoc"
	"github.com/haul-dev/haul/jobs/ingest"
)

// dataDoc is the input contract for people.
const dataDoc = "../../docs/data.md"

func readDataDoc(t *testing.T) *mddoc.Doc {
	t.Helper()
	d, err := mddoc.Read(dataDoc)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sectionTable returns the first table of a section of docs/data.md whose
// first column is named first.
func sectionTable(t *testing.T, d *mddoc.Doc, anchor, first string, skip int) mddoc.Table {
	t.Helper()
	section, ok := d.Section(anchor)
	if !ok {
		t.Fatalf("docs/data.md has no section #%s", anchor)
	}
	for _, table := range mddoc.Tables(section) {
		if table.Column(first) == 0 {
			if skip == 0 {
				return table
			}
			skip--
		}
	}
	t.Fatalf("docs/data.md#%s has no such table (first column %q)", anchor, first)
	return mddoc.Table{}
}

// firstSpans returns the code spans of each row's first cell.
func firstSpans(table mddoc.Table) []string {
	var out []string
	for _, row := range table.Rows {
		out = append(out, mddoc.CodeSpans(row[0])...)
	}
	return out
}

// codeReasons are the reject reasons the loader's code can write: the
// reason of every problem it builds, its reason constants, its reference
// checks' and what it rejects at the database.
func codeReasons(t *testing.T) []string {
	t.Helper()
	found := map[string]bool{}
	pattern := regexp.MustCompile(`(?:[rR]eason\w*:? *=? *|[rR]eason\w* += |dbReject\([^,]+, [^,]+, )"([a-z]+(?:_[a-z0-9]+)+)"`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pattern.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = true
		}
	}
	var out []string
	for r := range found {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// TestDataDocListsEveryRejectReason: docs/data.md's reasons are exactly the
// ones the code writes, and each example, loaded as the section says, is
// rejected with its reason.
func TestDataDocListsEveryRejectReason(t *testing.T) {
	d := readDataDoc(t)
	table := sectionTable(t, d, "62-reject-reasons", "reason", 0)
	documented := slices.Sorted(slices.Values(firstSpans(table)))
	if code := codeReasons(t); !slices.Equal(documented, code) {
		t.Errorf("docs/data.md#62-reject-reasons lists %v; the code writes %v", documented, code)
	}

	// The records the examples are loaded after, each also the valid
	// first line of an example's file.
	first := map[ingest.Dataset]string{
		ingest.Vehicles:    `{"vehicle_id": "V-001", "name": "Vehicle 1", "total_mileage": 355770.72}`,
		ingest.VehicleLogs: `{"log_id": "L-000001", "vehicle_id": "V-001", "trip_date": "2023-02-12", "mileage": 254.55, "fuel_used": 78.71}`,
		ingest.Shipments:   `{"shipment_id": "S-000001", "origin": "Ramirezstad", "destination": "Gregoryview", "weight": 37.9, "cost": 139.87, "delivery_time": 15, "log_id": "L-000001"}`,
	}
	e := newEnv(t)
	before := map[ingest.Dataset][]string{}
	for ds, rec := range first {
		before[ds] = []string{e.file(string(ds)+".ndjson", lines(rec))}
	}
	e.mustRun(ingest.Options{RunID: "before", Inputs: before})
	example := table.Column("example")
	tried := 0
	for i, row := range table.Rows {
		reason := mddoc.CodeSpans(row[0])[0]
		spans := mddoc.CodeSpans(row[example])
		// An example abridged with "…" cannot be loaded as written, and
		// database_rejected has none: their own tests cover them.
		if len(spans) < 2 || strings.Contains(spans[1], "…") {
			continue
		}
		ds, record := ingest.Dataset(spans[0]), strings.ReplaceAll(spans[1], `\xE9`, "\xe9")
		report, err := e.run(ingest.Options{RunID: "example-" + reason, Inputs: map[ingest.Dataset][]string{
			ds: {e.file(reason+".ndjson", lines(first[ds], record))},
		}})
		tried++
		if err != nil {
			t.Errorf("row %d (%s): the run failed: %v", i+1, reason, err)
			continue
		}
		got := datasetReport(t, report, ds).RejectedByReason
		if got[reason] != 1 || len(got) != 1 {
			t.Errorf("docs/data.md#62-reject-reasons: the example of %s, as %s, was rejected as %v", reason, ds, got)
		}
	}
	if tried < 12 {
		t.Errorf("only %d examples loaded; the table's example column was read wrong", tried)
	}
}

// TestDataDocListsTheReportAndRejectsKeys: the keys docs/data.md gives for
// the rejects file and the run report are the JSON keys the code writes.
func TestDataDocListsTheReportAndRejectsKeys(t *testing.T) {
	d := readDataDoc(t)
	for _, c := range []struct {
		anchor string
		skip   int
		typ    reflect.Type
	}{
		{"61-the-rejects-file", 0, ingest.RejectLineType},
		{"47-the-run-report", 0, reflect.TypeFor[ingest.Report]()},
		{"47-the-run-report", 1, reflect.TypeFor[ingest.DatasetReport]()},
		{"47-the-run-report", 2, reflect.TypeFor[ingest.Failure]()},
	} {
		documented := slices.Sorted(slices.Values(firstSpans(sectionTable(t, d, c.anchor, "key", c.skip))))
		if keys := jsonKeys(c.typ); !slices.Equal(documented, keys) {
			t.Errorf("docs/data.md#%s (table %d) lists %v; %s is written with %v", c.anchor, c.skip+1, documented, c.typ, keys)
		}
	}
}

// jsonKeys are the keys encoding/json writes for t, with those of an
// embedded struct (dataset.Counts) in place.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonKeys(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
