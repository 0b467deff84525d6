package app

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/jobs/precalc"
)

// TestServeRefreshIsOff: the API server only reads unless asked.
func TestServeRefreshIsOff(t *testing.T) {
	if f := newServeCmd().Flags().Lookup("refresh"); f == nil || f.DefValue != "false" {
		t.Errorf("haul serve --refresh defaults to %v, want false", f)
	}
}

// TestServeFailsAtOnce: a port already taken ends haul serve at once with
// exit 1 and the reason, its refresh listener running or not.
func TestServeFailsAtOnce(t *testing.T) {
	url := dbtest.New(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, refresh := range []string{"--refresh=true", "--refresh=false"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		var stdout, stderr strings.Builder
		code := run(ctx, []string{"serve", "--database-url", url, "--addr", taken.Addr().String(), refresh}, &stdout, &stderr)
		cancel()
		if code != exitError || !strings.Contains(stderr.String(), "address already in use") || time.Since(start) > 10*time.Second {
			t.Errorf("%s on a taken port: exit %d after %s, stderr %q; want %d at once", refresh, code,
				time.Since(start).Round(time.Millisecond), stderr.String(), exitError)
		}
	}
}

// TestUntilFirstFails: when one part fails the others are stopped and the
// failure returned; cancelling stops them all without error.
func TestUntilFirstFails(t *testing.T) {
	boom := errors.New("boom")
	untilDone := func(ctx context.Context) error { <-ctx.Done(); return nil }
	done := make(chan error, 1)
	go func() {
		done <- untilFirstFails(context.Background(), func(context.Context) error { return boom }, untilDone)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("one part failed: %v, want %v", err, boom)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a part failed, and the others kept running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := untilFirstFails(ctx, untilDone, untilDone); err != nil {
		t.Errorf("cancelled: %v", err)
	}
}

// TestDemoRefreshLogNeverBlocks: a burst of refreshes with nobody waiting
// does not block the listener; the wait then finds the run's refresh.
func TestDemoRefreshLogNeverBlocks(t *testing.T) {
	l := newRefreshLog()
	burst := make(chan struct{})
	go func() {
		defer close(burst)
		for i := range 100 {
			l.record(precalc.Result{Version: int64(i + 1), Runs: []string{"other"}})
		}
		l.record(precalc.Result{Version: 101, Runs: []string{"demo", "other"}})
	}()
	select {
	case <-burst:
	case <-time.After(10 * time.Second):
		t.Fatal("recording refreshes blocked")
	}
	res, err := l.waitFor(context.Background(), "demo", time.Second)
	if err != nil || res.Version != 101 {
		t.Errorf("waitFor demo: %+v, %v; want version 101", res, err)
	}
	if _, err := l.waitFor(context.Background(), "never", 50*time.Millisecond); err == nil {
		t.Error("waitFor a run never refreshed: no error")
	}
}
