package ingest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/testutil"
	"github.com/haul-dev/haul/internal/testutil/pgtest"
	"github.com/haul-dev/haul/jobs/ingest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// env is one test's database and folder.
type env struct{ *pgtest.Env }

func newEnv(t *testing.T) *env { return &env{pgtest.NewEnv(t)} }

// file writes an input file and returns its path.
func (e *env) file(name, content string) string {
	e.T.Helper()
	return testutil.WriteFile(e.T, e.Dir, name, content)
}

func (e *env) run(opts ingest.Options) (*ingest.Report, error) {
	e.T.Helper()
	if opts.RejectsDir == "" {
		opts.RejectsDir = filepath.Join(e.Dir, "rejects")
	}
	if opts.RunID == "" {
		opts.RunID = "test-run"
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	return ingest.Run(context.Background(), e.Pool, opts)
}

// mustRun runs and fails the test unless the run succeeds.
func (e *env) mustRun(opts ingest.Options) *ingest.Report {
	e.T.Helper()
	report, err := e.run(opts)
	if err != nil {
		e.T.Fatalf("run failed: %v", err)
	}
	return report
}

func (e *env) count(sql string) int64 {
	e.T.Helper()
	return pgtest.Scalar[int64](e.T, e.Pool, sql)
}

// shipmentsOnTheirLogs counts the stored shipments that carry their log's
// day and vehicle.
func (e *env) shipmentsOnTheirLogs() int64 {
	e.T.Helper()
	return e.count(`SELECT count(*) FROM shipments s JOIN vehicle_logs l USING (log_id)
		WHERE (s.trip_date, s.vehicle_id) = (l.trip_date, l.vehicle_id)`)
}

// rejectLine mirrors docs/data.md#6-rejects.
type rejectLine struct {
	Run          string  `json:"run"`
	Dataset      string  `json:"dataset"`
	File         string  `json:"file"`
	Index        int64   `json:"index"`
	Line         int64   `json:"line"`
	Offset       int64   `json:"offset"`
	Reason       string  `json:"reason"`
	Field        *string `json:"field"`
	Message      string  `json:"message"`
	Record       *string `json:"record"`
	RecordBase64 *string `json:"record_base64"`
}

func readRejects(t *testing.T, path string) []rejectLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rejectLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var r rejectLine
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: bad rejects line %q: %v", path, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func datasetReport(t *testing.T, r *ingest.Report, ds ingest.Dataset) ingest.DatasetReport {
	t.Helper()
	for _, d := range r.Datasets {
		if d.Dataset == ds {
			return d
		}
	}
	t.Fatalf("report has no %s: %+v", ds, r)
	return ingest.DatasetReport{}
}

// lines joins NDJSON records.
func lines(records ...string) string { return strings.Join(records, "\n") + "\n" }
