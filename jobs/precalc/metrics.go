package precalc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of a process that refreshes the
// aggregates (haul listen, haul serve --refresh). A nil *Metrics records
// nothing.
//
// The last success and the pending days are read from the database at
// scrape time, not remembered by the process: every refreshing process then
// reports the same, whichever of them did the work, and a restart does not
// make aggregates look stale (or fresh).
type Metrics struct {
	duration  *prometheus.HistogramVec
	failures  prometheus.Counter
	listening atomic.Bool
}

// Refresh paths, the values of haul_precalc_refresh_duration_seconds' label.
const (
	pathIncremental = "incremental"
	pathFull        = "full"
)

// stateQueryTimeout bounds the scrape-time query, so that a slow database
// makes a scrape miss the state series rather than time out whole.
const stateQueryTimeout = 2 * time.Second

// pendingSQL reads the last successful refresh's time (NULL before the
// first) and the days loaded that no served version includes yet.
const pendingSQL = `
SELECT extract(epoch FROM refreshed_at)::float8,
       (SELECT count(*) FROM (SELECT day FROM precalc_dirty_days UNION SELECT day FROM precalc_claimed_days) d)
FROM precalc_state`

// Querier runs the scrape-time query; a pool is one.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// NewMetrics registers the refresh series with reg; q answers the
// scrape-time query, and log says why it failed (at V(1)).
func NewMetrics(reg prometheus.Registerer, q Querier, log logr.Logger) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "haul_precalc_refresh_duration_seconds",
			Help:    "Time a refresh that published a version took, by path (incremental, full).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 15), // 50 ms to about 14 min
		}, []string{"path"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "haul_precalc_refresh_failures_total",
			Help: "Refreshes run by this process that failed (a cancel at shutdown is not a failure).",
		}),
	}
	// Both paths are present from the start, so rates work from the first scrape.
	m.duration.WithLabelValues(pathIncremental)
	m.duration.WithLabelValues(pathFull)
	state := &stateCollector{q: q, log: log, listening: &m.listening,
		lastSuccess: prometheus.NewDesc("haul_precalc_last_success_timestamp_seconds",
			"When the served aggregates were published (Unix time; absent before the first refresh).", nil, nil),
		pending: prometheus.NewDesc("haul_precalc_pending_days",
			"Days with loaded data that no served version includes yet.", nil, nil),
		listen: prometheus.NewDesc("haul_precalc_listening",
			"1 while this process holds its LISTEN session for completed ingest runs.", nil, nil),
	}
	reg.MustRegister(m.duration, m.failures, state)
	return m
}

// observe records one refresh: its duration by path if it published a
// version, or a failure.
func (m *Metrics) observe(res Result, err error, took time.Duration) {
	if m == nil {
		return
	}
	switch {
	case errors.Is(err, context.Canceled):
	case err != nil:
		m.failures.Inc()
	case res.Refreshed:
		path := pathIncremental
		if res.Full {
			path = pathFull
		}
		m.duration.WithLabelValues(path).Observe(took.Seconds())
	}
}

// setListening records whether the LISTEN session is up.
func (m *Metrics) setListening(up bool) {
	if m != nil {
		m.listening.Store(up)
	}
}

// Listening says whether Listen holds its LISTEN session now: part of a
// listener's readiness.
func (m *Metrics) Listening() bool { return m != nil && m.listening.Load() }

// stateCollector reads the refresh state at scrape time.
type stateCollector struct {
	q                            Querier
	log                          logr.Logger
	listening                    *atomic.Bool
	lastSuccess, pending, listen *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lastSuccess
	ch <- c.pending
	ch <- c.listen
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	listening := 0.0
	if c.listening.Load() {
		listening = 1
	}
	ch <- prometheus.MustNewConstMetric(c.listen, prometheus.GaugeValue, listening)
	ctx, cancel := context.WithTimeout(context.Background(), stateQueryTimeout)
	defer cancel()
	var last *float64
	var pending int64
	if err := c.q.QueryRow(ctx, pendingSQL).Scan(&last, &pending); err != nil {
		c.log.V(1).Info("refresh state not read for metrics", "reason", err.Error())
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
	if last != nil {
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, *last)
	}
}

// Pinger checks that the database answers; a pool is one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ListenerReady says why a listener recording into m is not ready: the
// database does not answer, or its LISTEN session is down (it reconnects).
func ListenerReady(ctx context.Context, p Pinger, m *Metrics) error {
	if err := p.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if !m.Listening() {
		return errors.New("no LISTEN session for completed ingest runs (reconnecting)")
	}
	return nil
}
