package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/jobs/ingest"
)

// PostgreSQL restarted in the middle of a run: the batches in flight are
// retried with backoff and the run completes with every record once (or, if
// the retries run out, fails cleanly and the resumed run completes).
func TestPostgresRestartMidRun(t *testing.T) {
	cluster := dbtest.Cluster(t)
	if cluster == nil {
		t.Skip("needs the harness's own PostgreSQL to restart it; HAUL_TEST_DATABASE_URL is set")
	}
	e := newEnv(t)
	const n = 60_000
	var recs []string
	for i := range n {
		recs = append(recs, fmt.Sprintf(`{"vehicle_id": "V-%06d", "name": "Vehicle %d", "total_mileage": %d}`, i, i, i))
	}
	path := e.file("v.ndjson", lines(recs...))
	progress := &ingest.Progress{}
	opts := ingest.Options{RunID: "restart", Inputs: vehiclesOnly(path), BatchSize: 500, Workers: 2,
		Retries: 5, RejectsDir: e.Dir, Log: logr.Discard(), Progress: progress}

	done := make(chan error, 1)
	go func() {
		_, err := ingest.Run(context.Background(), e.Pool, opts)
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for progress.Snapshot().Loaded < 5000 {
		if time.Now().After(deadline) {
			t.Fatal("the run never got going")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cluster.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err != nil {
		t.Logf("run failed across the restart (%v); resuming", err)
		if _, err := ingest.Run(context.Background(), e.Pool, opts); err != nil {
			t.Fatalf("resumed run: %v", err)
		}
	}
	if got := e.count(`SELECT count(*) FROM vehicles`); got != n {
		t.Errorf("%d vehicles after the restart, want %d", got, n)
	}
	if got := e.count(`SELECT records_read FROM ingest_run_datasets WHERE run_id = 'restart'`); got != n {
		t.Errorf("run read %d records, want %d", got, n)
	}
	if p := progress.Snapshot(); p.Duplicates != 0 || p.Rejected != 0 {
		t.Errorf("progress %+v: records counted twice across the restart", p)
	}
}
