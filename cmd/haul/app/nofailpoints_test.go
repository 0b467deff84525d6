//go:build !failpoints

package app

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/db/dbtest"
)

// The shipped haul has no failpoints: it refuses $HAUL_FAILPOINTS as a usage
// error instead of loading without the crash a test asked for.
func TestShippedHaulRefusesFailpoints(t *testing.T) {
	url := dbtest.New(t)
	t.Setenv(envFailpoints, "batch-staged=1")
	code, _, stderr := haul(t, "ingest", "--database-url", url, "--progress", "none",
		"--rejects-dir", t.TempDir(), "--shipments", filepath.Join(t.TempDir(), "s.json"))
	if code != exitUsage || !strings.Contains(stderr, "built without failpoints") {
		t.Errorf("exit %d, stderr %q; want %d: built without failpoints", code, stderr, exitUsage)
	}
}
