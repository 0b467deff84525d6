package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/db/dbtest"
)

// envRunAsHaul makes the test binary act as the haul binary, so tests can
// run `haul` as a subprocess and kill it.
const envRunAsHaul = "HAUL_TEST_RUN_AS_HAUL"

func TestMain(m *testing.M) {
	if os.Getenv(envRunAsHaul) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	dbtest.Main(m)
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
	} {
		if code, _, stderr := haul(t, args...); code != exitUsage || !strings.HasPrefix(stderr, "haul: ") {
			t.Errorf("haul %s: exit %d, stderr %q; want exit %d with a message", strings.Join(args, " "), code, stderr, exitUsage)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := haul(t, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "haul ") {
		t.Fatalf("exit %d, %q", code, stdout)
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

// The demo path `make demo` runs: a throwaway server of its own.
func TestDemoOnThrowawayServer(t *testing.T) {
	t.Setenv("HAUL_DATABASE_URL", "")
	out := t.TempDir()
	code, stdout, stderr := haul(t, "demo", "--shipments", "2000", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"started a throwaway PostgreSQL", "migrated: schema at version", "shipments.json",
		"shipments  succeeded", "stopped the throwaway PostgreSQL"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "expected.json")); err != nil {
		t.Errorf("--out did not keep the data: %v", err)
	}
}

func TestDemoOnGivenDatabase(t *testing.T) {
	url := dbtest.NewEmpty(t)
	code, stdout, stderr := haul(t, "demo", "--shipments", "1000", "--database-url", url)
	if code != exitOK || strings.Contains(stdout, "throwaway") || !strings.Contains(stdout, "migrated") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
