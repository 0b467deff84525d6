package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haul-dev/haul/internal/db/dbtest"
)

func TestMain(m *testing.M) {
	dbtest.Main(m)
}

// run runs haul as package main does, with no build information of its own.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, args, stdout, stderr, Build{})
}

func haul(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Setenv("HAUL_DATABASE_URL", "")
	for _, args := range [][]string{
		{"gen"}, // --out missing
		{"gen", "--out", t.TempDir(), "--format", "csv"},
		{"gen", "--out", t.TempDir(), "--cities", "lots"},
		{"gen", "--out", t.TempDir(), "--from", "2024-13-01"},
		{"gen", "--bogus"},
		{"migrate"}, // no database named
		{"version", "extra"},
		{"ingest", "--database-url", "postgres://nowhere", "--shipments", "s.json", "--log-cache-mb", "-1"},
		{"ingest", "--database-url", "postgres://nowhere", "--shipments", "s.json", "--log-cache-mb", "4097"},
		{"serve", "--database-url", "postgres://nowhere", "--refresh", "--db-conns", "2"},
		{"bogus"},
		{"ingst", "--shipments", "s.json"},
		{"version", "--log-format", "xml"},
		{"migrate", "--log-format", "", "--database-url", "postgres://nowhere"},
		{"version", "-v", "-1"},
		{"listen", "--database-url", "postgres://nowhere", "--wait-for-database", "-1s"},
		{"serve", "--database-url", "postgres://nowhere", "--wait-for-database", "soon"},
		{"ingest", "--database-url", "postgres://nowhere", "--shipments", "s.json", "--progress", "fancy"},
		{"healthcheck"},
		{"controller", "--job-requests", "cpu=lots"},
		{"healthcheck", "http://127.0.0.1:1/healthz", "--timeout", "0s"},
		// Every flag is checked before connecting (nothing listens on the port named).
		{"ingest", "--database-url", "postgres://127.0.0.1:1/none", "--shipments", "s.json", "--progress", "fancy"},
		{"ingest", "--database-url", "postgres://127.0.0.1:1/none", "--shipments", "s.json", "--retries", "11"},
		{"ingest", "--database-url", "postgres://127.0.0.1:1/none", "--shipments", "s.json", "--annotate-pod", "pod"},
		{"ingest", "--database-url", "postgres://127.0.0.1:1/none", "--shipments", "s.json", "--annotate-pod", "ns/pod/x"},
		{"ingest", "--database-url", "postgres://127.0.0.1:1/none", "--shipments", "s.json", "--run-id", "a/b"},
		{"ingest", "--database-url", "postgres://127.0.0.1:1/none", "--shipments", "s.json", "--group", strings.Repeat("g", 129)},
		{"serve", "--database-url", "postgres://127.0.0.1:1/none", "--db-conns", "2", "--refresh"},
	} {
		if code, _, stderr := haul(t, args...); code != exitUsage || !strings.HasPrefix(stderr, "haul: ") {
			t.Errorf("haul %s: exit %d, stderr %q; want exit %d with a message", strings.Join(args, " "), code, stderr, exitUsage)
		}
	}
}

func TestUnknownCommandNamesTheLikelyOne(t *testing.T) {
	code, _, stderr := haul(t, "ingst")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "ingst" for "haul"; did you mean ingest?`) {
		t.Errorf("haul ingst: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ := haul(t)
	if code != exitOK || !strings.Contains(stdout, "Available Commands:") {
		t.Errorf("haul alone: exit %d, stdout %q; want the help", code, stdout)
	}
}

// TestIngestMissingInputExitsThree: a named input that does not exist is an
// input error naming it, unless --allow-missing (docs/data.md#92-file-level-cases, F1).
func TestIngestMissingInputExitsThree(t *testing.T) {
	url := dbtest.New(t)
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.json")
	if err := os.WriteFile(ok, []byte(`[{"vehicle_id": "V-1", "name": "One", "total_mileage": 10}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.json")
	args := []string{"ingest", "--database-url", url, "--rejects-dir", filepath.Join(dir, "rejects"), "--progress", "none",
		"--vehicles", ok, "--shipments", typo}
	if code, _, stderr := haul(t, args...); code != exitInput || !strings.Contains(stderr, typo) {
		t.Errorf("missing input: exit %d, stderr %q; want %d naming %s", code, stderr, exitInput, typo)
	}
	if code, stdout, stderr := haul(t, append(args, "--allow-missing")...); code != exitOK || !strings.Contains(stdout, typo+" does not exist") {
		t.Errorf("--allow-missing: exit %d, stdout %q, stderr %q; want 0 and a warning", code, stdout, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := haul(t, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "haul ") || !strings.Contains(stdout, "commit ") ||
		!strings.Contains(stdout, "built ") {
		t.Fatalf("exit %d, %q; want the version, commit and build date", code, stdout)
	}
	code, flagOut, _ := haul(t, "--version")
	if code != exitOK || flagOut != stdout {
		t.Errorf("haul --version: exit %d, %q; want what haul version prints, %q", code, flagOut, stdout)
	}
}

func TestMigrateCommand(t *testing.T) {
	url := dbtest.NewEmpty(t)
	code, stdout, stderr := haul(t, "migrate", "--database-url", url)
	if code != exitOK || !strings.Contains(stdout, "migrations applied now") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Setenv("HAUL_DATABASE_URL", url)
	code, stdout, _ = haul(t, "migrate")
	if code != exitOK || !strings.Contains(stdout, "(0 migrations applied now)") {
		t.Fatalf("second migrate from $HAUL_DATABASE_URL: exit %d, %q", code, stdout)
	}
}

func TestMigrateStatus(t *testing.T) {
	url := dbtest.NewEmpty(t)
	code, stdout, stderr := haul(t, "migrate", "status", "--database-url", url)
	if code != exitOK || !regexp.MustCompile(`(?m)^1 +pending +- +00001_raw_tables\.sql$`).MatchString(stdout) ||
		!strings.Contains(stdout, "0 applied, ") {
		t.Fatalf("before migrate: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := haul(t, "migrate", "--database-url", url); code != exitOK {
		t.Fatal(stderr)
	}
	code, stdout, _ = haul(t, "migrate", "status", "--database-url", url)
	if code != exitOK || !regexp.MustCompile(`(?m)^1 +applied +\d{4}-\d\d-\d\dT\S+Z +00001_raw_tables\.sql$`).MatchString(stdout) ||
		!strings.Contains(stdout, " applied, 0 pending") {
		t.Fatalf("after migrate: exit %d, stdout %q", code, stdout)
	}
}

func TestMigrateUnreachableDatabaseExitsOne(t *testing.T) {
	code, _, stderr := haul(t, "migrate", "--database-url", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if code != exitError || !strings.Contains(stderr, "haul: ") {
		t.Fatalf("exit %d, stderr %q; want %d", code, stderr, exitError)
	}
}

func TestGenCommandWritesFilesAndKey(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := haul(t, "gen", "--out", dir, "--shipments", "500", "--gzip", "--format", "ndjson", "--faults", "0.1", "--cities", "unique")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, name := range []string{"vehicles.json.gz", "vehicle_logs.json.gz", "shipments.json.gz", "expected.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
		if name != "expected.json" && !strings.Contains(stdout, name) {
			t.Errorf("summary does not mention %s:\n%s", name, stdout)
		}
	}
}

// The demo path `make demo` runs: a throwaway server of its own, data
// loaded and refreshed through the listener, the API served until the
// context ends (Ctrl-C).
func TestDemoOnThrowawayServer(t *testing.T) {
	t.Setenv("HAUL_DATABASE_URL", "")
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &watchWriter{marker: "Ctrl-C stops the demo", seen: make(chan struct{})}
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--shipments", "2000", "--out", out, "--addr", "127.0.0.1:0"}, stdout, &stderr)
	}()
	select {
	case <-stdout.seen:
	case code := <-done:
		t.Fatalf("demo ended before serving: exit %d: %s\n%s", code, stderr.String(), stdout.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("demo not serving after 3 minutes:\n%s", stdout.String())
	}
	base := regexp.MustCompile(`serving the API on (http://\S+);`).FindStringSubmatch(stdout.String())
	if base == nil {
		t.Fatalf("no API address in the output:\n%s", stdout.String())
	}
	var status struct {
		IsCalculating    bool    `json:"is_calculating"`
		LastCalculatedAt *string `json:"last_calculated_at"`
	}
	getJSON(t, base[1]+"/api/system/status", &status)
	if status.IsCalculating || status.LastCalculatedAt == nil {
		t.Errorf("system status while the demo serves: %+v, want aggregates built", status)
	}
	var analytics struct {
		Overview struct {
			TotalShipments int64 `json:"total_shipments"`
		} `json:"overview"`
	}
	getJSON(t, base[1]+"/api/shipments/analytics?start=2000-01-01&end=2100-12-31", &analytics)
	if n := analytics.Overview.TotalShipments; n < 1900 || n > 2000 {
		t.Errorf("all-time shipments served: %d, want the ~2000 loaded", n)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d after Ctrl-C: %s", code, stderr.String())
	}
	for _, want := range []string{"started a throwaway PostgreSQL", "migrated: schema at version", "shipments.json",
		"shipments  succeeded", "aggregates: version 1", "stopped the throwaway PostgreSQL"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Join(out, "expected.json")); err != nil {
		t.Errorf("--out did not keep the data: %v", err)
	}
}

// watchWriter collects output and closes seen once marker was written.
type watchWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
	once   sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestDemoOnGivenDatabase(t *testing.T) {
	url := dbtest.NewEmpty(t)
	code, stdout, stderr := haul(t, "demo", "--shipments", "1000", "--database-url", url, "--addr", "")
	if code != exitOK || strings.Contains(stdout, "throwaway") || !strings.Contains(stdout, "migrated") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// --keep leaves the database folder and the generated files, outside the
// folders a later start sweeps away.
func TestDemoKeep(t *testing.T) {
	t.Setenv("HAUL_DATABASE_URL", "")
	code, stdout, stderr := haul(t, "demo", "--shipments", "500", "--addr", "", "--keep")
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	kept := regexp.MustCompile(`kept it in (\S+);`).FindStringSubmatch(stdout)
	data := regexp.MustCompile(`kept the generated data and rejects in (\S+)`).FindStringSubmatch(stdout)
	if kept == nil || data == nil {
		t.Fatalf("output does not say what it kept:\n%s", stdout)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(kept[1])
		_ = os.RemoveAll(data[1])
	})
	for _, path := range []string{filepath.Join(kept[1], "data", "PG_VERSION"), filepath.Join(data[1], "shipments.json")} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("not kept: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(kept[1], "owner.pid")); !os.IsNotExist(err) {
		t.Errorf("the kept folder still names an owner, so a later start would sweep it: %v", err)
	}
	if !strings.Contains(stdout, "pg_ctl -D "+filepath.Join(kept[1], "data")) {
		t.Errorf("no command to start it again:\n%s", stdout)
	}
}
