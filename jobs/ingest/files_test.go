package ingest_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/jobs/ingest"
)

const (
	vehicle1 = `{"vehicle_id": "V-1", "name": "One", "total_mileage": 10}`
	vehicle2 = `{"vehicle_id": "V-2", "name": "Two", "total_mileage": 20}`
	vehicle3 = `{"vehicle_id": "V-3", "name": "Three", "total_mileage": 30}`
)

func vehiclesOnly(path ...string) map[ingest.Dataset][]string {
	return map[ingest.Dataset][]string{ingest.Vehicles: path}
}

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// File-level cases of docs/data.md#92-file-level-cases that stop the run: the error names the
// file and the place, and batches committed before it stay.
func TestFileLevelErrors(t *testing.T) {
	pretty := "[\n  " + vehicle1 + ",\n  " + vehicle2 + ",\n  " + vehicle3
	for _, tc := range []struct {
		name, content string
		want          string // in the error
		line          int64  // 0: not checked
		loaded        int64  // committed before the error, with batch size 1
	}{
		{"F5 UTF-16LE with BOM", "\xff\xfe[\x00]\x00", "unsupported encoding: UTF-16LE", 1, 0},
		{"F5 UTF-16BE without BOM", "\x00[\x00]", "unsupported encoding: UTF-16BE", 1, 0},
		{"F5 UTF-32LE", "\xff\xfe\x00\x00[\x00\x00\x00", "unsupported encoding: UTF-32LE", 1, 0},
		{"F8 pretty-printed object", "{\n  \"vehicles\": [" + vehicle1 + "]\n}\n", "expected a JSON array or NDJSON objects", 1, 0},
		{"F9 scalar", `"hello"`, "expected a JSON array or NDJSON objects", 1, 0},
		{"F9 null", "null\n", "expected a JSON array or NDJSON objects", 1, 0},
		{"F10 truncated inside a record", pretty + `,{"vehicle_id": "V-4", "na`, "unexpected end of input", 4, 3},
		{"F10 no closing bracket", pretty, "unexpected end of input", 4, 3},
		{"F11 missing comma", "[\n" + vehicle1 + "\n" + vehicle2 + "]", "expected ',' or ']'", 3, 1},
		{"F11 unquoted key", "[\n" + vehicle1 + ",\n{vehicle_id: \"V-2\"}]", "object key", 3, 1},
		{"F11 trailing comma", "[\n" + vehicle1 + ",\n]", "trailing comma", 3, 1},
		{"F11 NaN literal", "[\n" + vehicle1 + ",\n" + `{"vehicle_id": "V-2", "name": "x", "total_mileage": NaN}]`, "beginning of value", 3, 1},
		{"F11 single quotes", "[\n" + vehicle1 + ",\n" + `{'vehicle_id': 'V-2'}]`, "object key", 3, 1},
		{"F12 two arrays", "[" + vehicle1 + "]\n[" + vehicle2 + "]", "trailing data after top-level array", 2, 1},
		{"F13 Latin-1 in an array", "[\n" + vehicle1 + ",\n{\"vehicle_id\": \"V-2\", \"name\": \"Caf\xe9\", \"total_mileage\": 1}]", "invalid UTF-8", 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			path := e.file("vehicles.json", tc.content)
			report, err := e.run(ingest.Options{Inputs: vehiclesOnly(path), BatchSize: 1, Workers: 1})
			if err == nil || report == nil || report.Succeeded() {
				t.Fatalf("run succeeded (%v); want it failed with %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q; want it to name %s and say %q", err, path, tc.want)
			}
			var fe *ingest.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FileError", err)
			}
			if tc.line > 0 && fe.Line != tc.line {
				t.Errorf("error at line %d, want line %d (%v)", fe.Line, tc.line, fe)
			}
			if report.Error == nil || report.Error.File != path || report.Error.Offset == nil {
				t.Errorf("report error %+v; want file and offset", report.Error)
			}
			if n := e.count(`SELECT count(*) FROM vehicles`); n != tc.loaded {
				t.Errorf("%d vehicles committed before the error, want %d", n, tc.loaded)
			}
			var status string
			if err := e.Pool.QueryRow(t.Context(), `SELECT status FROM ingest_runs WHERE run_id = 'test-run'`).Scan(&status); err != nil || status != "failed" {
				t.Errorf("run status %q (%v), want failed", status, err)
			}
		})
	}
}

// F10: a run that failed on a truncated file resumes once the file is
// complete, loading each record once.
func TestTruncatedFileResumesWhenComplete(t *testing.T) {
	e := newEnv(t)
	complete := "[\n" + vehicle1 + ",\n" + vehicle2 + ",\n" + vehicle3 + "\n]\n"
	path := e.file("vehicles.json", complete[:len(complete)-20])
	if _, err := e.run(ingest.Options{Inputs: vehiclesOnly(path), BatchSize: 1}); err == nil {
		t.Fatal("truncated file loaded without error")
	}
	if n := e.count(`SELECT count(*) FROM vehicles`); n != 2 {
		t.Fatalf("%d vehicles before the truncation point, want 2", n)
	}
	e.file("vehicles.json", complete)
	report := e.mustRun(ingest.Options{Inputs: vehiclesOnly(path), BatchSize: 1})
	d := datasetReport(t, report, ingest.Vehicles)
	if d.Read != 3 || d.Loaded != 3 || d.Duplicates != 0 {
		t.Errorf("resumed run: %+v; want 3 read, 3 loaded over both attempts", d)
	}
	if n := e.count(`SELECT count(*) FROM vehicles`); n != 3 {
		t.Errorf("%d vehicles, want 3", n)
	}
}

// F15: a file that changed between a crash and the resume is refused.
func TestResumeRefusesChangedFile(t *testing.T) {
	e := newEnv(t)
	path := e.file("vehicles.json", "[\n"+vehicle1+",\n"+vehicle2+",\n"+vehicle3)
	if _, err := e.run(ingest.Options{Inputs: vehiclesOnly(path), BatchSize: 1}); err == nil {
		t.Fatal("truncated file loaded without error")
	}
	before := e.count(`SELECT count(*) FROM vehicles`)
	e.file("vehicles.json", "[\n"+strings.Replace(vehicle1, "One", "Uno", 1)+",\n"+vehicle2+",\n"+vehicle3+"]")
	_, err := e.run(ingest.Options{Inputs: vehiclesOnly(path), BatchSize: 1})
	if !errors.Is(err, ingest.ErrPrefixChanged) || !strings.Contains(err.Error(), path) {
		t.Fatalf("resume on a changed file: %v; want ErrPrefixChanged naming the file", err)
	}
	if n := e.count(`SELECT count(*) FROM vehicles`); n != before || n == 0 {
		t.Errorf("%d vehicles after the refused resume, want the %d loaded before", n, before)
	}
}

// Cases where the run goes on: missing (when allowed), empty, BOM, gzip,
// NDJSON with CRLF, http(s), several files.
func TestFileLevelCasesThatContinue(t *testing.T) {
	e := newEnv(t)
	missing := e.Dir + "/nope.json"
	empty := e.file("empty.json", "  \n\t\n")
	emptyArray := e.file("empty-array.json", "[ ]")
	bom := e.file("bom.json", "\xef\xbb\xbf["+vehicle1+"]")
	gz := e.file("vehicles.data", gzipped(t, "["+vehicle2+"]"))
	crlf := e.file("crlf.ndjson", vehicle3+"\r\n\r\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v.json" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `[{"vehicle_id": "V-9", "name": "Nine", "total_mileage": 90}]`)
	}))
	defer srv.Close()

	report := e.mustRun(ingest.Options{Inputs: vehiclesOnly(missing, empty, emptyArray, bom, gz, crlf, srv.URL+"/v.json"),
		AllowMissing: true})
	d := datasetReport(t, report, ingest.Vehicles)
	if d.Loaded != 4 || d.Read != 4 || d.Rejected != 0 {
		t.Errorf("report %+v; want 4 read and loaded", d)
	}
	for _, want := range []string{missing + " does not exist", empty + " holds no records", emptyArray + " holds no records"} {
		found := false
		for _, w := range d.Warnings {
			found = found || strings.HasPrefix(w, want)
		}
		if !found {
			t.Errorf("warnings %q lack %q", d.Warnings, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM vehicles`); n != 4 {
		t.Errorf("%d vehicles, want 4", n)
	}

	// F2: a URL that answers 404, or a directory, fails the run.
	for _, bad := range []string{srv.URL + "/missing.json", e.Dir} {
		_, err := e.run(ingest.Options{RunID: "bad-" + fmt.Sprint(len(bad)), Inputs: vehiclesOnly(bad)})
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("input %s: %v; want a failure naming it", bad, err)
		}
	}
	// F1: a run whose every input is missing fails with "no input files".
	if _, err := e.run(ingest.Options{RunID: "only-missing", Inputs: vehiclesOnly(missing), AllowMissing: true}); !errors.Is(err, ingest.ErrNoInput) {
		t.Errorf("only missing inputs: %v; want %v", err, ingest.ErrNoInput)
	}
}

// F6: positions in a gzip file count decompressed bytes; F7: a corrupt
// gzip stream fails the run at the decompressed offset reached.
func TestGzipPositionsAndCorruption(t *testing.T) {
	e := newEnv(t)
	content := lines(vehicle1, `{"vehicle_id": "V-2", "name": "", "total_mileage": 1}`)
	path := e.file("v.gz", gzipped(t, content))
	report := e.mustRun(ingest.Options{Inputs: vehiclesOnly(path)})
	rejects := readRejects(t, datasetReport(t, report, ingest.Vehicles).RejectsFile)
	if len(rejects) != 1 || rejects[0].Offset != int64(len(vehicle1)+1) || rejects[0].Line != 2 {
		t.Errorf("rejects %+v; want one at line 2, decompressed offset %d", rejects, len(vehicle1)+1)
	}

	var many []string
	for i := range 5000 {
		many = append(many, fmt.Sprintf(`{"vehicle_id": "V-%d", "name": "Vehicle %d", "total_mileage": %d}`, i, i, i))
	}
	whole := gzipped(t, lines(many...))
	corrupt := whole[:len(whole)/2] + strings.Repeat("\x00", 64) + whole[len(whole)/2+64:]
	bad := e.file("corrupt.gz", corrupt)
	_, err := e.run(ingest.Options{RunID: "corrupt", Inputs: vehiclesOnly(bad), BatchSize: 100})
	var fe *ingest.FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "gzip") || fe.Offset == 0 {
		t.Fatalf("corrupt gzip: %v; want a FileError naming gzip at the offset reached", err)
	}
	if n := e.count(`SELECT count(*) FROM vehicles WHERE run_id = 'corrupt'`); n == 0 {
		t.Error("no batch committed before the corruption")
	}
}

// F1: a named input that does not exist fails the run, as an input error
// naming it, before anything loads; AllowMissing skips it with a warning
// (TestFileLevelCasesThatContinue).
func TestMissingInputFails(t *testing.T) {
	e := newEnv(t)
	ok := e.file("v.json", "["+vehicle1+"]")
	typo := filepath.Join(e.Dir, "typo.json")
	report, err := e.run(ingest.Options{RunID: "typo", Inputs: map[ingest.Dataset][]string{
		ingest.Vehicles: {ok}, ingest.Shipments: {typo}}})
	if !errors.Is(err, ingest.ErrMissingInput) || !ingest.IsInputError(err) || !strings.Contains(err.Error(), typo) {
		t.Fatalf("missing shipments input: %v; want an input error naming %s", err, typo)
	}
	if report != nil {
		t.Errorf("report %+v; want none, nothing ran", report)
	}
	if n := e.count(`SELECT count(*) FROM vehicles`) + e.count(`SELECT count(*) FROM ingest_runs`); n != 0 {
		t.Errorf("%d vehicles and runs stored; want nothing loaded", n)
	}
}

// F16: a vehicles file given as shipments: every record rejected, and the
// run fails as an input error naming the top reasons. A file loaded twice
// (every record a duplicate) still succeeds, and a dataset with some
// records loaded is not affected.
func TestSwappedFilesFail(t *testing.T) {
	e := newEnv(t)
	path := e.file("really-vehicles.json", "["+vehicle1+","+vehicle2+"]")
	report, err := e.run(ingest.Options{RunID: "swapped", Inputs: map[ingest.Dataset][]string{ingest.Shipments: {path}}})
	if !errors.Is(err, ingest.ErrAllRejected) || !ingest.IsInputError(err) || !strings.Contains(err.Error(), "missing_field 2") {
		t.Fatalf("swapped file: %v; want an input error naming missing_field 2", err)
	}
	d := datasetReport(t, report, ingest.Shipments)
	if report.Status != "failed" || d.Status != "failed" || d.Rejected != 2 || d.RejectedByReason["missing_field"] != 2 || d.Error == nil {
		t.Errorf("swapped file: run %s, dataset %+v; want failed with 2 missing_field rejects", report.Status, d)
	}
	if n := e.count(`SELECT count(*) FROM ingest_runs WHERE run_id = 'swapped' AND status = 'failed'`); n != 1 {
		t.Error("the run is not stored as failed")
	}

	vehicles := e.file("v.json", "["+vehicle1+","+vehicle2+"]")
	e.mustRun(ingest.Options{RunID: "first", Inputs: vehiclesOnly(vehicles)})
	again := e.mustRun(ingest.Options{RunID: "again", Inputs: vehiclesOnly(vehicles)})
	if d := datasetReport(t, again, ingest.Vehicles); d.Duplicates != 2 || d.Status != "succeeded" {
		t.Errorf("a file loaded twice: %+v; want 2 duplicates and success", d)
	}
}

// R26/R31: a record over 1 MiB is rejected without being buffered, the next
// is read normally, and every reject of a reject-heavy file is written.
func TestHugeRecordAndManyRejects(t *testing.T) {
	e := newEnv(t)
	huge := `{"vehicle_id": "V-H", "name": "` + strings.Repeat("x", 2<<20) + `", "total_mileage": 1}`
	path := e.file("v.json", "["+huge+",\n"+vehicle1+"]")
	report := e.mustRun(ingest.Options{Inputs: vehiclesOnly(path)})
	d := datasetReport(t, report, ingest.Vehicles)
	rejects := readRejects(t, d.RejectsFile)
	if d.Loaded != 1 || len(rejects) != 1 || rejects[0].Reason != "record_too_large" || rejects[0].Record == nil || len(*rejects[0].Record) > 4096 {
		t.Fatalf("huge record: %+v, rejects %d; want it rejected with a short head of its text", d, len(rejects))
	}

	var orphans []string
	for i := range 30_000 {
		orphans = append(orphans, fmt.Sprintf(`{"log_id": "L-%d", "vehicle_id": "V-nope", "trip_date": "2024-01-01", "mileage": 1, "fuel_used": 1}`, i))
	}
	logs := e.file("orphans.ndjson", lines(orphans...))
	// Every record rejected fails the run (F16), with every reject written.
	report, err := e.run(ingest.Options{RunID: "orphans", Inputs: map[ingest.Dataset][]string{ingest.VehicleLogs: {logs}}, BatchSize: 1000})
	if !errors.Is(err, ingest.ErrAllRejected) {
		t.Errorf("30000 orphans: %v; want %v", err, ingest.ErrAllRejected)
	}
	d = datasetReport(t, report, ingest.VehicleLogs)
	if got := readRejects(t, d.RejectsFile); len(got) != 30_000 || d.RejectedByReason["unknown_vehicle"] != 30_000 {
		t.Errorf("%d rejects written, report %v; want all 30000 unknown_vehicle", len(got), d.RejectedByReason)
	}
	if _, err := os.Stat(d.RejectsFile); err != nil {
		t.Error(err)
	}
}
