package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db/dbtest"
)

// buildFailpointHaul builds haul with its failpoints compiled in
// (-tags failpoints: the shipped binary has none) and returns its path.
func buildFailpointHaul(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "haul")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-tags", "failpoints", "-o", bin, "github.com/haul-dev/haul/cmd/haul")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags failpoints ./cmd/haul: %v\n%s", err, out)
	}
	return bin
}

// haulProcess runs the haul binary bin as `haul args...` and returns how it
// ended.
func haulProcess(t *testing.T, bin string, env []string, args ...string) (exitCode int, killed bool, output string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, ws.Signal() == syscall.SIGKILL, out.String()
		}
		return exitErr.ExitCode(), false, out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, false, out.String()
}

// loadState is everything a load leaves behind: table contents and rejects.
type loadState struct {
	tables  map[string]string
	rejects map[string]string
}

func stateOf(t *testing.T, pool *pgxpool.Pool, rejectsDir string) loadState {
	t.Helper()
	s := loadState{tables: map[string]string{}, rejects: map[string]string{}}
	for table, key := range map[string]string{"vehicles": "vehicle_id", "vehicle_logs": "log_id", "shipments": "shipment_id"} {
		// Without load_batch: a resumed load numbers its batches anew.
		var digest string
		err := pool.QueryRow(context.Background(),
			"SELECT count(*) || ':' || coalesce(md5(string_agg((to_jsonb(t) - 'load_batch')::text, '|' ORDER BY "+key+")), '') FROM "+table+" t").Scan(&digest)
		if err != nil {
			t.Fatal(err)
		}
		s.tables[table] = digest
	}
	files, _ := filepath.Glob(filepath.Join(rejectsDir, "*", "*.ndjson"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s.rejects[filepath.Base(f)] = string(b)
	}
	return s
}

// A load killed with SIGKILL at any point and resumed with the same run id
// ends exactly like a load that was never interrupted: same rows, same
// rejects lines, no row or reject twice.
func TestKilledIngestResumesExactlyOnce(t *testing.T) {
	bin := buildFailpointHaul(t)
	data := t.TempDir()
	if _, err := datagen.Generate(context.Background(), data, datagen.Config{
		Shipments: 12_000, Vehicles: 40, Seed: 21, FaultRate: 0.03, Format: datagen.FormatNDJSON,
	}); err != nil {
		t.Fatal(err)
	}
	args := func(url, rejects string) []string {
		return []string{"ingest", "--database-url", url, "--run-id", "crash", "--rejects-dir", rejects,
			"--batch-size", "400", "--workers", "2", "--progress", "none",
			"--vehicles", filepath.Join(data, "vehicles.json"),
			"--vehicle-logs", filepath.Join(data, "vehicle_logs.json"),
			"--shipments", filepath.Join(data, "shipments.json")}
	}

	refURL, refRejects := dbtest.New(t), t.TempDir()
	if code, _, out := haulProcess(t, bin, nil, args(refURL, refRejects)...); code != 0 {
		t.Fatalf("reference load: exit %d\n%s", code, out)
	}
	want := stateOf(t, dbtest.Pool(t, refURL), refRejects)

	for _, crashes := range [][]string{
		{"record-read=9000"},                        // mid-batch, while logs are read
		{"batch-staged=20"},                         // COPY done, not committed
		{"rejects-written=30"},                      // rejects on disk, batch not committed
		{"batch-committed=3", "batch-staged=2"},     // killed twice
		{"batch-committed=40", "rejects-written=1"}, // shipments, then right after resuming
	} {
		t.Run(strings.Join(crashes, ","), func(t *testing.T) {
			url, rejects := dbtest.New(t), t.TempDir()
			for _, fp := range crashes {
				code, killed, out := haulProcess(t, bin, []string{envFailpoints + "=" + fp}, args(url, rejects)...)
				if !killed {
					t.Fatalf("with %s: exit %d, not killed\n%s", fp, code, out)
				}
			}
			if code, _, out := haulProcess(t, bin, nil, args(url, rejects)...); code != 0 {
				t.Fatalf("resumed load: exit %d\n%s", code, out)
			}
			got := stateOf(t, dbtest.Pool(t, url), rejects)
			for table, digest := range want.tables {
				if got.tables[table] != digest {
					t.Errorf("%s after crash and resume: %s; uninterrupted load: %s", table, got.tables[table], digest)
				}
			}
			for file, content := range want.rejects {
				if got.rejects[file] != content {
					t.Errorf("%s after crash and resume differs from the uninterrupted load's (%d vs %d bytes)",
						file, len(got.rejects[file]), len(content))
				}
			}
		})
	}
}
