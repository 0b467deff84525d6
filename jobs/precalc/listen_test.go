package precalc_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/jobs/precalc"
)

// Behaviour of the listener: it refreshes after every completed run, at
// start, after PostgreSQL comes back, and once however many listen; it
// returns nil when its context ends.

// listener is a precalc.Listen running in the background.
type listener struct {
	cancel    context.CancelFunc
	done      chan error
	refreshed atomic.Int64 // OnRefresh calls
	stopOnce  sync.Once
}

// startListener runs precalc.Listen on pool until the test stops it (or
// ends), with short backoffs.
func (e *env) startListener(pool *pgxpool.Pool) *listener {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cancel: cancel, done: make(chan error, 1)}
	opts := precalc.ListenOptions{
		Log:        logr.Discard(),
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond,
		OnRefresh:  func(precalc.Result) { l.refreshed.Add(1) },
	}
	go func() { l.done <- precalc.Listen(ctx, pool, opts) }()
	e.t.Cleanup(func() { l.stop(e.t) })
	return l
}

// stop cancels the listener and checks that it returns nil promptly.
func (l *listener) stop(t *testing.T) {
	t.Helper()
	l.stopOnce.Do(func() {
		l.cancel()
		select {
		case err := <-l.done:
			if err != nil {
				t.Errorf("Listen returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Listen did not return within 10 s of cancel")
		}
	})
}

// waitListening waits until n sessions LISTEN in the test's database.
func (e *env) waitListening(n int64) {
	e.t.Helper()
	e.waitFor("the listeners to LISTEN", func() bool {
		return e.count(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle' AND query LIKE 'LISTEN %'`) == n
	})
}

// waitServed waits until a version that includes run runID is served, and
// returns it.
func (e *env) waitServed(runID string) int64 {
	e.t.Helper()
	e.waitFor("a version serving "+runID, func() bool { return e.runVersion(runID) != 0 })
	v := e.runVersion(runID)
	if served := e.state().version; served < v {
		e.t.Errorf("%s is in version %d but version %d is served", runID, v, served)
	}
	return v
}

// settle waits until nothing is stale, no refresh holds the lock and the
// number of refreshes has not changed for a second: the listeners are idle.
func (e *env) settle() {
	e.t.Helper()
	const quiet = time.Second
	last, since := int64(-1), time.Now()
	e.waitFor("the listeners to go idle", func() bool {
		n := e.count(`SELECT count(*) FROM precalc_refreshes`)
		if n != last || e.isStale() || e.advisoryLocks(true) != 0 {
			last, since = n, time.Now()
			return false
		}
		return time.Since(since) >= quiet
	})
}

func TestListenRefreshesEachRun(t *testing.T) {
	e := newEnv(t)
	runs := []string{"run-a", "run-b", "run-c"}
	dirs := make([]string, len(runs))
	for i, run := range runs {
		dirs[i] = e.generate(run, batchConfig(string(rune('A'+i)), uint64(i+1)))
	}
	l := e.startListener(e.pool)
	e.waitListening(1)

	var want []refreshRow
	for i, run := range runs {
		e.mustLoad(run, dirs[i])
		if v := e.waitServed(run); v != int64(i+1) {
			t.Errorf("%s served from version %d, want %d", run, v, i+1)
		}
		e.settle()
		// The first version is built whole.
		want = append(want, refreshRow{version: int64(i + 1), full: i == 0,
			days: int(e.count(`SELECT count(*) FROM ingest_run_days WHERE run_id = $1`, run)), runs: []string{run}})
	}
	if got := e.refreshRows(); !equalRefreshRows(got, want) {
		t.Errorf("precalc_refreshes %+v, want one per run: %+v", got, want)
	}
	if n := l.refreshed.Load(); n != int64(len(runs)) {
		t.Errorf("OnRefresh called %d times, want %d", n, len(runs))
	}
	l.stop(t)
	if n := e.advisoryLocks(true); n != 0 {
		t.Errorf("%d sessions hold the refresh lock after the listener stopped", n)
	}
}

func TestListenCatchesUpAtStart(t *testing.T) {
	e := newEnv(t)
	days := e.loadBatch("run-a", "", 1)
	if !e.isStale() {
		t.Fatal("Stale is false after a load")
	}

	l := e.startListener(e.pool)
	if v := e.waitServed("run-a"); v != 1 {
		t.Errorf("run-a served from version %d, want 1", v)
	}
	e.settle()
	want := []refreshRow{{version: 1, full: true, days: int(days), runs: []string{"run-a"}}}
	if got := e.refreshRows(); !equalRefreshRows(got, want) {
		t.Errorf("precalc_refreshes %+v, want %+v", got, want)
	}
	if n := l.refreshed.Load(); n != 1 {
		t.Errorf("OnRefresh called %d times, want 1", n)
	}
	l.stop(t)
}

func TestListenSurvivesPostgresRestart(t *testing.T) {
	if os.Getenv(dbtest.EnvURL) != "" {
		t.Skip("needs the harness's own PostgreSQL to restart it; " + dbtest.EnvURL + " is set")
	}
	cluster := dbtest.Cluster(t)
	if cluster == nil {
		t.Skip("needs the harness's own PostgreSQL to restart it")
	}
	e := newEnv(t)
	dirB := e.generate("run-b", batchConfig("B", 2))
	// The listener's own pool, as in another process: its connections die
	// with the server and it must find that out by itself.
	l := e.startListener(dbtest.Pool(t, e.url))
	e.waitListening(1)
	e.loadBatch("run-a", "", 1)
	if v := e.waitServed("run-a"); v != 1 {
		t.Errorf("run-a served from version %d, want 1", v)
	}
	e.settle()

	if err := cluster.Restart(context.Background()); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
	e.pool.Reset() // the test's own connections died too
	// A notification is only heard by a listener that LISTENs again.
	e.waitListening(1)
	e.mustLoad("run-b", dirB)
	if v := e.waitServed("run-b"); v != 2 {
		t.Errorf("run-b served from version %d, want 2", v)
	}
	e.settle()
	if rows := e.refreshRows(); len(rows) != 2 || !slices.Equal(rows[1].runs, []string{"run-b"}) {
		t.Errorf("precalc_refreshes %+v, want run-a's then run-b's", rows)
	}
	if n := l.refreshed.Load(); n != 2 {
		t.Errorf("OnRefresh called %d times, want 2", n)
	}
	l.stop(t)
}

func TestListenTwoListenersRefreshOnce(t *testing.T) {
	e := newEnv(t)
	dirA := e.generate("run-a", batchConfig("", 1))
	dirB := e.generate("run-b", batchConfig("B", 2))
	// Two pools, as two processes would have.
	l1 := e.startListener(dbtest.Pool(t, e.url))
	l2 := e.startListener(dbtest.Pool(t, e.url))
	e.waitListening(2)

	e.mustLoad("run-a", dirA)
	e.waitServed("run-a")
	e.settle()
	if rows := e.refreshRows(); len(rows) != 1 || !slices.Equal(rows[0].runs, []string{"run-a"}) {
		t.Errorf("after one run, precalc_refreshes %+v, want one refresh of run-a", rows)
	}

	e.mustLoad("run-b", dirB)
	e.waitServed("run-b")
	e.settle()
	if rows := e.refreshRows(); len(rows) != 2 || !slices.Equal(rows[1].runs, []string{"run-b"}) {
		t.Errorf("after two runs, precalc_refreshes %+v, want one refresh per run", rows)
	}
	if n := l1.refreshed.Load() + l2.refreshed.Load(); n != 2 {
		t.Errorf("OnRefresh called %d times across both listeners, want 2", n)
	}
	l1.stop(t)
	l2.stop(t)
	if n := e.advisoryLocks(true); n != 0 {
		t.Errorf("%d sessions hold the refresh lock after the listeners stopped", n)
	}
}

// A refresh that fails is retried with backoff, without a new run.
func TestListenRetriesFailedRefresh(t *testing.T) {
	e := newEnv(t)
	// The first build cannot drop a view holding its copy's name.
	e.exec(`CREATE VIEW agg_totals_next AS SELECT 1 AS x`)
	e.loadBatch("run-a", "", 1)
	l := e.startListener(e.pool)
	e.waitFor("the failure to be recorded", func() bool { return e.state().lastError != nil })

	e.exec(`DROP VIEW agg_totals_next`)
	if v := e.waitServed("run-a"); v != 1 {
		t.Errorf("run-a served from version %d, want 1", v)
	}
	e.settle()
	if st := e.state(); st.lastError != nil {
		t.Errorf("last_error %q after the retry succeeded", *st.lastError)
	}
	if n := len(e.refreshRows()); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	l.stop(t)
}
