package app

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/testutil"
)

// httpGet returns the status and body of GET url, or 0 if it cannot connect.
func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// haul listen --metrics-addr serves health, readiness and the refresh
// series, and `haul healthcheck` reads them.
func TestListenServesHealthAndMetrics(t *testing.T) {
	url := dbtest.New(t)
	addr := testutil.FreeAddr(t)
	stderr, stop := startHaul(t, "listen", "--database-url", url, "--metrics-addr", addr)
	base := "http://" + addr
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, _ := httpGet(base + "/readyz")
		return code == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("listener not ready within 30 s:\n%s", stderr.String())
	}
	if code, body := httpGet(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body := httpGet(base + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	// haul_precalc_last_success_timestamp_seconds is absent before a first
	// refresh (jobs/precalc's tests see it after one).
	for _, name := range []string{"haul_precalc_refresh_duration_seconds_bucket",
		"haul_precalc_refresh_failures_total", "haul_precalc_pending_days", "haul_aggregates_version",
		"haul_precalc_listening 1", "go_goroutines"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if code, _, stderr := haul(t, "healthcheck", base+"/readyz"); code != exitOK {
		t.Errorf("haul healthcheck /readyz: exit %d, %s", code, stderr)
	}
	if code, _, _ := haul(t, "healthcheck", base+"/no-such-path"); code != exitError {
		t.Errorf("haul healthcheck of a 404: exit %d, want %d", code, exitError)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("listen exit %d after cancel:\n%s", code, stderr.String())
	}
	if code, _, _ := haul(t, "healthcheck", "--timeout", "1s", base+"/healthz"); code != exitError {
		t.Errorf("haul healthcheck of a stopped listener: exit %d, want %d", code, exitError)
	}
}

// Servers wait for an unreachable database, logging each try, then exit 1.
func TestServersWaitForDatabase(t *testing.T) {
	const down = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	for _, args := range [][]string{{"listen"}, {"serve", "--addr", "127.0.0.1:0"}} {
		cmd := args[0]
		start := time.Now()
		code, _, stderr := haul(t, append(args, "--database-url", down, "--wait-for-database", "2s")...)
		took := time.Since(start)
		if code != exitError || !strings.Contains(stderr, "database not reachable within 2s") {
			t.Errorf("haul %s: exit %d, stderr %q", cmd, code, stderr)
		}
		if n := strings.Count(stderr, `msg="database not reachable, retrying"`); n < 2 {
			t.Errorf("haul %s logged %d retries in 2 s, want at least 2:\n%s", cmd, n, stderr)
		}
		if took < 2*time.Second || took > 20*time.Second {
			t.Errorf("haul %s gave up after %v, want about 2 s", cmd, took)
		}
	}
}

// haul ingest --progress bar: a bar per file filled by committed batches,
// ending at 100%, with log lines printed whole above it.
func TestIngestProgressBar(t *testing.T) {
	url := dbtest.New(t)
	dir := t.TempDir()
	if code, _, stderr := haul(t, "gen", "--out", dir, "--shipments", "20000"); code != exitOK {
		t.Fatal(stderr)
	}
	code, _, stderr := haul(t, "ingest", "--database-url", url, "--progress", "bar", "--batch-size", "500",
		"--rejects-dir", t.TempDir(), "--vehicles", dir+"/vehicles.json", "--vehicle-logs", dir+"/vehicle_logs.json",
		"--shipments", dir+"/shipments.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`shipments +shipments\.json +100 %`).MatchString(stderr) {
		t.Errorf("no finished shipments bar:\n%s", stderr)
	}
	if !regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="vehicle logs cached"`).MatchString(stderr) {
		t.Errorf("a log line is not printed whole on a line of its own:\n%s", stderr)
	}
}

// haul serve --refresh serves the refresh series on the API's /metrics.
func TestServeExportsRefreshMetrics(t *testing.T) {
	url := dbtest.New(t)
	addr := testutil.FreeAddr(t)
	stderr, stop := startHaul(t, "serve", "--database-url", url, "--addr", addr, "--refresh")
	var body string
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var code int
		code, body = httpGet("http://" + addr + "/metrics")
		return code == http.StatusOK && strings.Contains(body, "\nhaul_precalc_listening 1"), nil
	}); err != nil {
		t.Fatalf("no listening refresher on /metrics within 30 s:\n%s\n%s", body, stderr.String())
	}
	for _, name := range []string{"haul_precalc_refresh_failures_total", "haul_precalc_pending_days", "haul_aggregates_version",
		"haul_db_pool_connections"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exit %d:\n%s", code, stderr.String())
	}
}

// startHaul runs haul with args in the background; stop cancels it and
// returns its exit code. Its stderr is returned as written so far.
func startHaul(t *testing.T, args ...string) (stderr *watchWriter, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stderr = &watchWriter{seen: make(chan struct{})}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, io.Discard, stderr) }()
	return stderr, func() int {
		cancel()
		return <-done
	}
}
