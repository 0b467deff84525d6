package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func testConfig(t *testing.T, count int) config {
	t.Helper()
	return config{
		from: mustDate(t, "2023-01-01"), to: mustDate(t, "2025-12-31"), count: count, seed: 7,
		vehicles: []string{"V-001", "V-002", "V-003"}, wholeShare: 0.2, qShr: 0.2,
	}
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(dateLayout, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Every URL and every window of a run is new, the shares hold, each kind of
// window has its shape, and the same seed draws the same run.
func TestMakePlans(t *testing.T) {
	cfg := testConfig(t, 200)
	plans, err := makePlans(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != len(endpoints) {
		t.Fatalf("%d plans, want one per endpoint (%d)", len(plans), len(endpoints))
	}
	again, err := makePlans(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plans, again) {
		t.Error("the same config drew different requests")
	}
	cfg.seed++
	other, _ := makePlans(cfg)
	if reflect.DeepEqual(plans, other) {
		t.Error("another seed drew the same requests")
	}

	urls := map[string]bool{}
	windows := map[string]string{}
	for _, p := range plans {
		if len(p.reqs) != cfg.count {
			t.Errorf("%s: %d requests, want %d", p.name, len(p.reqs), cfg.count)
		}
		perKind := map[kind]int{}
		for _, req := range p.reqs {
			if urls[req.path] {
				t.Errorf("%s: %s drawn twice", p.name, req.path)
			}
			urls[req.path] = true
			u, err := url.Parse(req.path)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if !p.dated {
				if q.Has("start") || req.kind != kindAny {
					t.Errorf("%s: %s has a window", p.name, req.path)
				}
				continue
			}
			perKind[req.kind]++
			start, end := mustDate(t, q.Get("start")), mustDate(t, q.Get("end"))
			window := q.Get("start") + ".." + q.Get("end")
			if prev, ok := windows[window]; ok {
				t.Errorf("%s: window %s already used by %s", req.path, window, prev)
			}
			windows[window] = req.path
			n := days(start, end)
			switch req.kind {
			case kindWhole:
				if start.After(cfg.from) || end.Before(cfg.to) {
					t.Errorf("%s: whole-range window %s does not span the data", p.name, window)
				}
			case kindQuarter:
				if n != quarter || start.Before(cfg.from) || end.After(cfg.to) {
					t.Errorf("%s: 90-day window %s is %d days or outside the data", p.name, window, n)
				}
			default:
				if n < 1 || start.Before(cfg.from) || end.After(cfg.to) {
					t.Errorf("%s: window %s is empty or outside the data", p.name, window)
				}
			}
		}
		if p.dated && (perKind[kindWhole] != 40 || perKind[kindQuarter] != 40 || perKind[kindAny] != 120) {
			t.Errorf("%s: windows per kind %v, want 40 whole-range, 40 of 90 days, 120 others", p.name, perKind)
		}
	}
}

func TestMakePlansRunsOutOfWindows(t *testing.T) {
	cfg := testConfig(t, 100)
	cfg.to = mustDate(t, "2023-03-31") // 90 days: one 90-day window only
	if _, err := makePlans(cfg); err == nil || !strings.Contains(err.Error(), "no new window") {
		t.Errorf("makePlans: %v, want no new window left", err)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	for _, tc := range []struct {
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(5), 99, 5 * time.Millisecond},
		{ms(3, 1, 2), 50, 2 * time.Millisecond},
		{ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 100, 100 * time.Millisecond},
	} {
		if got := percentile(tc.d, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.d, tc.p, got, tc.want)
		}
	}
}

// One run against a stand-in server: every request on one connection, one
// baseline request per cold request, the warm repeats, a failing endpoint
// counted, and the table's shape.
func TestRun(t *testing.T) {
	var (
		mu      sync.Mutex
		paths   []string
		remotes = map[string]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		remotes[r.RemoteAddr] = true
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/api/costs/") {
			http.Error(w, `{"detail": "Internal server error"}`, http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	vehicles := filepath.Join(t.TempDir(), "vehicles")
	if err := os.WriteFile(vehicles, []byte("V-001\nV-002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"-url", srv.URL, "-from", "2023-01-01", "-to", "2025-12-31", "-vehicles", vehicles,
		"-count", "10", "-warm", "3"}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}

	if len(remotes) != 1 {
		t.Errorf("requests came on %d connections, want 1", len(remotes))
	}
	status := 0
	for _, p := range paths {
		if p == statusPath {
			status++
		}
	}
	cold := 10 * len(endpoints)
	// Each endpoint: 10 cold, 10 baseline, 1 priming and 3 warm requests.
	if status != cold || len(paths) != cold*2+4*len(endpoints) {
		t.Errorf("%d requests, %d of them to %s; want %d and %d", len(paths), status, statusPath,
			cold*2+4*len(endpoints), cold)
	}
	if !strings.Contains(errOut.String(), "/api/costs/overview?") {
		t.Errorf("the failures are not described:\n%s", errOut.String())
	}

	rows := map[string][]string{}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] != strings.Join(columns, "\t") {
		t.Errorf("header %q", lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		rows[f[0]] = f
	}
	if len(rows) != len(endpoints)+2 {
		t.Fatalf("%d rows, want one per endpoint, baseline and connections:\n%s", len(rows), out.String())
	}
	col := func(row, name string) string {
		for i, c := range columns {
			if c == name {
				return rows[row][i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	for _, want := range []struct{ row, col, value string }{
		{"route/reliability", "count", "10"},
		{"route/reliability", "whole_n", "2"},
		{"route/reliability", "quarter_n", "2"},
		{"route/reliability", "warm_n", "3"},
		{"route/reliability", "failures", "0"},
		{"shipments/routes", "whole_n", "-"},
		{"costs/overview", "count", "0"},
		{"costs/overview", "median_ms", "-"},
		{"costs/overview", "failures", "14"},
		{"baseline", "count", strconv.Itoa(cold)},
	} {
		if got := col(want.row, want.col); got != want.value {
			t.Errorf("%s %s = %q, want %q", want.row, want.col, got, want.value)
		}
	}
	if got := rows["connections"]; len(got) != 2 || got[1] != "1" {
		t.Errorf("connections row %q, want 1", got)
	}
}
