package app

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/jobreport"
)

// What an Indexed Job pod runs: --file-index picks its file, the summary
// goes to its termination message, and a failure on the input exits 3 so
// the Job does not retry it.
func TestIngestAsJobPod(t *testing.T) {
	url := dbtest.New(t)
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.ndjson")
	v2 := filepath.Join(dir, "v2.ndjson")
	writeFile(t, v1, `{"vehicle_id": "V-1", "name": "One", "total_mileage": 10}`+"\n")
	writeFile(t, v2, `{"vehicle_id": "V-2", "name": "Two", "total_mileage": 20}`+"\n"+`{"vehicle_id": "V-3", "name": "Bad", "total_mileage": -1}`+"\n")
	summaryPath := filepath.Join(dir, "termination-log")

	code, _, stderr := haul(t, "ingest", "--database-url", url, "--rejects-dir", dir, "--progress", "none",
		"--vehicles", v1, "--vehicles", v2, "--file-index", "1", "--run-id", "uid-vehicles-1", "--group", "uid",
		"--summary-file", summaryPath)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s := readSummary(t, summaryPath)
	want := jobreport.Summary{RunID: "uid-vehicles-1", Dataset: "vehicles", Status: "succeeded", Read: 2, Loaded: 1,
		Rejected: 1, RejectedByReason: map[string]int64{"invalid_value": 1}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("summary %+v, want %+v", s, want)
	}

	// A truncated file is an input error: exit 3, and the summary says why.
	writeFile(t, v1, `[{"vehicle_id": "V-9", "name": "Nine", "total_mileage": 9}, {"vehicle_id": "V-`)
	code, _, _ = haul(t, "ingest", "--database-url", url, "--rejects-dir", dir, "--progress", "none",
		"--vehicles", v1, "--vehicles", v2, "--file-index", "0", "--run-id", "uid-vehicles-0", "--summary-file", summaryPath)
	s = readSummary(t, summaryPath)
	if code != exitInput || s.Status != "failed" || s.Reason != jobreport.ReasonInputError || !strings.Contains(s.Message, v1) {
		t.Errorf("truncated file: exit %d, summary %+v; want exit %d, InputError naming %s", code, s, exitInput, v1)
	}

	for _, args := range [][]string{
		{"--vehicles", v1, "--file-index", "2"},
		{"--vehicles", v1, "--shipments", v2, "--file-index", "0"},
		{"--vehicles", v1, "--shipments", v2, "--summary-file", summaryPath},
		{"--vehicles", v1, "--annotate-pod", "no-slash"},
	} {
		args = append([]string{"ingest", "--database-url", url, "--progress", "none"}, args...)
		if code, _, stderr := haul(t, args...); code != exitUsage {
			t.Errorf("haul %s: exit %d (%s), want %d", strings.Join(args, " "), code, stderr, exitUsage)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readSummary(t *testing.T, path string) jobreport.Summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > jobreport.MaxMessage {
		t.Errorf("summary of %d bytes, more than a termination message holds", len(b))
	}
	s, err := jobreport.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
