package rollup_test

import (
	"context"
	"testing"
	"time"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/rollup"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestReadState(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.New(t))
	state := func() rollup.State {
		t.Helper()
		s, err := rollup.ReadState(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := state(); s.Version != 0 || s.RefreshedAt != nil || s.Refreshing || s.LastError != nil {
		t.Fatalf("before any refresh: %+v", s)
	}

	// Refreshing follows whoever holds the refresh lock, and ends with its session.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, db.PrecalcLockID); err != nil {
		t.Fatal(err)
	}
	if s := state(); !s.Refreshing {
		t.Fatalf("lock held: %+v", s)
	}
	if err := holder.Conn().Close(ctx); err != nil {
		t.Fatal(err)
	}
	holder.Release()
	// The server ends the session a moment after the client hangs up.
	for deadline := time.Now().Add(10 * time.Second); state().Refreshing; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still refreshing 10 s after the lock holder's session ended")
		}
	}
	// Another advisory lock is not a refresh.
	if _, err := pool.Exec(ctx, `SELECT pg_advisory_lock($1)`, db.PrecalcLockID+1); err != nil {
		t.Fatal(err)
	}
	if s := state(); s.Refreshing {
		t.Fatalf("unrelated lock: %+v", s)
	}

	if _, err := pool.Exec(ctx, `UPDATE precalc_state SET version = 3, refreshed_at = now(), last_error = 'x', last_error_at = now()`); err != nil {
		t.Fatal(err)
	}
	if s := state(); s.Version != 3 || s.RefreshedAt == nil || s.LastError == nil || *s.LastError != "x" || s.LastErrorAt == nil {
		t.Fatalf("after a refresh and a failure: %+v", s)
	}
}
