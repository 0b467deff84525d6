package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/db/dbtest"
)

// storeLogs stores n logs of 70 vehicles: L-i on day i, of vehicle V-(i%70).
func storeLogs(t *testing.T, n int) *pgxpool.Pool {
	t.Helper()
	pool := dbtest.Pool(t, dbtest.New(t))
	if _, err := pool.Exec(t.Context(), `
		INSERT INTO vehicle_logs (log_id, vehicle_id, trip_date, mileage, fuel_used)
		SELECT 'L-' || i, 'V-' || i % 70, DATE '2000-01-01' + i, 1, 1 FROM generate_series(1, $1) i`, n); err != nil {
		t.Fatal(err)
	}
	return pool
}

// checkHeld fails unless c holds exactly the logs L-1 to L-n that it
// counts, each with its day and vehicle, and nothing else.
func checkHeld(t *testing.T, c *logCache, n int) {
	t.Helper()
	held := 0
	for i := 1; i <= n; i++ {
		ref, ok := c.get(fmt.Appendf(nil, "L-%d", i))
		if !ok {
			continue
		}
		held++
		if want := (logRef{day: int64(i), vehicle: fmt.Sprintf("V-%d", i%70)}); ref != want {
			t.Fatalf("L-%d: got %+v, want %+v", i, ref, want)
		}
	}
	if held != c.len() {
		t.Errorf("%d of the stored logs found, the cache counts %d", held, c.len())
	}
	for _, key := range []string{"L-0", fmt.Sprintf("L-%d", n+1), "", "L-1 "} {
		if _, ok := c.get([]byte(key)); ok {
			t.Errorf("the cache holds %q, which is not stored", key)
		}
	}
}

func TestLogCacheHoldsStoredLogs(t *testing.T) {
	const n = 20_000
	pool := storeLogs(t, n)

	c, err := preloadLogs(t.Context(), pool, DefaultLogCache, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if c.len() != n {
		t.Fatalf("cache holds %d logs, want all %d", c.len(), n)
	}
	checkHeld(t, c, n)
}

// A cache that cannot hold every log holds the most recently stored ones:
// as many as its budget allows, or twice the shipments to load.
func TestLogCacheHoldsTheNewestLogs(t *testing.T) {
	const n = 20_000
	pool := storeLogs(t, n)
	for _, tc := range []struct {
		name        string
		budget      int64
		shipments   int64
		least, most int
	}{
		{"budget for about a thousand", 1000 * (logCacheEntryBytes + logCacheMinKey), -1, 500, 1000},
		{"few shipments", DefaultLogCache, 300, 300, 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := preloadLogs(t.Context(), pool, tc.budget, tc.shipments)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if c.len() < tc.least || c.len() > tc.most {
				t.Fatalf("cache holds %d logs, want %d to %d", c.len(), tc.least, tc.most)
			}
			checkHeld(t, c, n)
			for i := n - tc.least + 1; i <= n; i++ {
				if _, ok := c.get(fmt.Appendf(nil, "L-%d", i)); !ok {
					t.Fatalf("the cache lacks L-%d, one of the %d stored last", i, tc.least)
				}
			}
		})
	}
}

func TestLogCacheNotBuilt(t *testing.T) {
	pool := storeLogs(t, 1000)
	if c, err := preloadLogs(t.Context(), pool, -1, -1); c != nil || err != nil {
		t.Errorf("no budget: cache %v, error %v; want neither", c, err)
	}
	if c, err := preloadLogs(t.Context(), pool, DefaultLogCache, 0); c != nil || err != nil {
		t.Errorf("no shipments to load: cache %v, error %v; want neither", c, err)
	}
	empty := dbtest.Pool(t, dbtest.New(t))
	if c, err := preloadLogs(t.Context(), empty, DefaultLogCache, -1); c != nil || err != nil {
		t.Errorf("no logs stored: cache %v, error %v; want neither", c, err)
	}
}

func TestPendingRecords(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	plain, gz := write("s.json", 100_000), write("s.json.gz", 10_000)
	for _, tc := range []struct {
		name  string
		files []*inputFile
		want  int64
	}{
		{"plain", []*inputFile{{location: plain}}, 1000},
		{"gzip counts 8 times its size", []*inputFile{{location: gz}}, 800},
		{"both", []*inputFile{{location: plain}, {location: gz}}, 1800},
		{"resumed after half", []*inputFile{{location: plain, resume: &Checkpoint{Offset: 50_000}}}, 500},
		{"done", []*inputFile{{location: plain, done: true}, {location: gz}}, 800},
		{"missing", []*inputFile{{location: filepath.Join(dir, "none.json")}, {location: plain}}, 1000},
		{"url", []*inputFile{{location: plain}, {location: "https://example.com/s.json"}}, -1},
	} {
		if got := pendingRecords(tc.files); got != tc.want {
			t.Errorf("%s: %d records, want %d", tc.name, got, tc.want)
		}
	}
}
