package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/haul-dev/haul/internal/testutil"
	"github.com/haul-dev/haul/jobs/ingest"
)

// A rejects file that cannot be written (a full disk: /dev/full) fails the
// run at once; retrying the batch, as after a database error, cannot help.
func TestRejectsWriteFailureIsNotRetried(t *testing.T) {
	e := newEnv(t)
	rejects := filepath.Join(e.Dir, "rejects")
	if err := os.MkdirAll(filepath.Join(rejects, "full"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", filepath.Join(rejects, "full", "vehicles.rejects.ndjson")); err != nil {
		t.Fatal(err)
	}
	path := e.file("v.json", "["+vehicle1+`, {"vehicle_id": "V-2"}]`)
	var log testutil.Logs
	start := time.Now()
	_, err := e.run(ingest.Options{RunID: "full", Inputs: vehiclesOnly(path), RejectsDir: rejects, Retries: 3, Log: log.Logger()})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("rejects on a full disk: %v; want the write's failure", err)
	}
	if n := log.Count("retrying batch"); n != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("the batch was retried %d times (%s)", n, time.Since(start))
	}
}

// Two processes on one run (the first lost its lock with its session): a
// checkpoint moved by the other since this process's last commit stops it
// before it commits its batch, instead of both committing.
func TestCheckpointIsCompareAndSet(t *testing.T) {
	e := newEnv(t)
	var recs []string
	for i := range 30 {
		recs = append(recs, fmt.Sprintf(`{"vehicle_id": "V-%02d", "name": "Vehicle %d", "total_mileage": %d}`, i, i, i))
	}
	path := e.file("v.ndjson", lines(recs...))
	var staged atomic.Int64
	var log testutil.Logs
	_, err := e.run(ingest.Options{RunID: "cas", Inputs: vehiclesOnly(path), BatchSize: 10, Workers: 1, Log: log.Logger(),
		Failpoint: func(name string) {
			if name != "batch-staged" || staged.Add(1) != 2 {
				return
			}
			// The other process commits a batch of its own meanwhile.
			if _, err := e.Pool.Exec(context.Background(),
				`UPDATE ingest_checkpoints SET record_index = record_index + 10 WHERE run_id = 'cas'`); err != nil {
				t.Error(err)
			}
		}})
	if !errors.Is(err, ingest.ErrConcurrentWriter) {
		t.Fatalf("checkpoint moved by another process: %v; want %v", err, ingest.ErrConcurrentWriter)
	}
	if n := e.count(`SELECT count(*) FROM vehicles`); n != 10 {
		t.Errorf("%d vehicles stored; want only the first batch's 10", n)
	}
	if n := log.Count("retrying batch"); n != 0 {
		t.Errorf("the batch was retried %d times", n)
	}
}

// A URL input whose server refuses the connection, stalls, or fails (5xx)
// fails the run as transient (exit 1, retried), not as an input error; a
// stalled server is given up on after SourceTimeout without data.
func TestURLSourceFailuresThatMayPass(t *testing.T) {
	e := newEnv(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/v.json"
	closed.Close()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stall":
			fmt.Fprint(w, "["+vehicle1+",")
			w.(http.Flusher).Flush()
			<-release
		case "/stall-headers":
			<-release
		case "/busy":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(release)
	for i, c := range []struct {
		url, want string
		input     bool
	}{
		{refused, "connection refused", false},
		{srv.URL + "/stall", "no data received", false},
		{srv.URL + "/stall-headers", "timeout awaiting response headers", false},
		{srv.URL + "/busy", "503", false},
		{srv.URL + "/missing", "404", true},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := ingest.Run(ctx, e.Pool, ingest.Options{RunID: fmt.Sprint("url-", i), Inputs: vehiclesOnly(c.url),
			RejectsDir: e.Dir, SourceTimeout: 300 * time.Millisecond, Log: logr.Discard()})
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) || ingest.IsInputError(err) != c.input {
			t.Errorf("%s: %v (input error %v); want %q, input error %v", c.url, err, ingest.IsInputError(err), c.want, c.input)
		}
	}
}
