package precalc_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/haul-dev/haul/jobs/precalc"
)

// gather returns reg's series by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	return byName
}

// refreshCount is the number of refreshes haul_precalc_refresh_duration_seconds
// holds for path.
func refreshCount(mf map[string]*dto.MetricFamily, path string) uint64 {
	for _, m := range mf["haul_precalc_refresh_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "path" && l.GetValue() == path {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// The refresh series after a failed refresh, a first (full) build and an
// incremental refresh, read as Prometheus would.
func TestMetricsAfterRefreshes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := precalc.NewMetrics(reg, e.pool, logr.Discard())
	refresh := func() (precalc.Result, error) {
		return precalc.Refresh(ctx, e.pool, precalc.Options{Log: logr.Discard(), Metrics: m})
	}
	gauge := func(mf map[string]*dto.MetricFamily, name string) *dto.Gauge {
		if f := mf[name]; f != nil && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge()
		}
		return nil
	}

	daysA := e.loadBatch("run-a", "", 1)
	mf := gather(t, reg)
	if got := gauge(mf, "haul_precalc_pending_days").GetValue(); got != float64(daysA) {
		t.Errorf("pending days before any refresh: %v, want the run's %d", got, daysA)
	}
	if g := gauge(mf, "haul_precalc_last_success_timestamp_seconds"); g != nil {
		t.Errorf("last success before any refresh: %v, want absent", g)
	}

	// A failed refresh (a view holds its copy's name) counts as one failure
	// and leaves the days pending.
	e.exec(`CREATE VIEW agg_totals_next AS SELECT 1 AS x`)
	if _, err := refresh(); err == nil {
		t.Fatal("refresh against a view in its copy's name succeeded")
	}
	e.exec(`DROP VIEW agg_totals_next`)
	mf = gather(t, reg)
	if got := mf["haul_precalc_refresh_failures_total"].GetMetric()[0].GetCounter().GetValue(); got != 1 {
		t.Errorf("failures after a failed refresh: %v, want 1", got)
	}
	if got := gauge(mf, "haul_precalc_pending_days").GetValue(); got != float64(daysA) {
		t.Errorf("pending days after a failed refresh: %v, want %d", got, daysA)
	}

	before := time.Now()
	if res, err := refresh(); err != nil || !res.Full {
		t.Fatalf("first build: %+v, %v", res, err)
	}
	e.loadBatch("run-b", "B", 2)
	if res, err := refresh(); err != nil || res.Full || !res.Refreshed {
		t.Fatalf("second refresh: %+v, %v; want an incremental one", res, err)
	}
	if _, err := refresh(); err != nil { // nothing to do: not a refresh
		t.Fatal(err)
	}
	mf = gather(t, reg)
	if full, incr := refreshCount(mf, "full"), refreshCount(mf, "incremental"); full != 1 || incr != 1 {
		t.Errorf("refresh durations: %d full, %d incremental; want 1 and 1", full, incr)
	}
	if got := gauge(mf, "haul_precalc_pending_days").GetValue(); got != 0 {
		t.Errorf("pending days after the refreshes: %v, want 0", got)
	}
	last := gauge(mf, "haul_precalc_last_success_timestamp_seconds").GetValue()
	if at := time.Unix(0, int64(last*1e9)); at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("last success at %v, want during the refreshes (after %v)", at, before)
	}
	if got := mf["haul_precalc_refresh_failures_total"].GetMetric()[0].GetCounter().GetValue(); got != 1 {
		t.Errorf("failures after successful refreshes: %v, want still 1", got)
	}
}

// A listener is ready once its LISTEN session is up, and reports it.
func TestListenerReadiness(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	m := precalc.NewMetrics(reg, e.pool, logr.Discard())
	if err := precalc.ListenerReady(context.Background(), e.pool, m); err == nil {
		t.Error("ready before listening")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- precalc.Listen(ctx, e.pool, precalc.ListenOptions{Log: logr.Discard(), Metrics: m}) }()
	e.waitFor("the listener to be ready", func() bool {
		return precalc.ListenerReady(context.Background(), e.pool, m) == nil
	})
	if got := gather(t, reg)["haul_precalc_listening"].GetMetric()[0].GetGauge().GetValue(); got != 1 {
		t.Errorf("haul_precalc_listening %v while listening, want 1", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := precalc.ListenerReady(context.Background(), e.pool, m); err == nil {
		t.Error("ready after the listener stopped")
	}
}
