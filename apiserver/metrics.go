package apiserver

import (
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/haul-dev/haul/internal/rollup"
)

type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	dataVersion prometheus.Gauge
	// answers counts versioned answers by whether the answer cache held
	// them (hit) or they were computed (miss).
	answers *prometheus.CounterVec
	// The in-memory index held: its data version (0: none) and size.
	indexVersion, indexBytes prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, pool *pgxpool.Pool, log logr.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_http_requests_total", Help: "HTTP requests answered, by route and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "haul_http_request_duration_seconds", Help: "Time to answer an HTTP request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		dataVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haul_data_version", Help: "The aggregate data version last served (0: none yet).",
		}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_answer_cache_requests_total",
			Help: "Requests for a versioned answer, by whether the answer cache held it (hit) or not (miss).",
		}, []string{"result"}),
		indexVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haul_index_version",
			Help: "The data version of the route and vehicle index in memory (0: none); answers of other versions read those families from SQL.",
		}),
		indexBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haul_index_bytes", Help: "About the memory the route and vehicle index holds.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.dataVersion, m.answers, m.indexVersion, m.indexBytes,
		newPoolCollector(pool), rollup.NewVersionCollector(pool, log),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// poolCollector reports the database pool's state at scrape time.
type poolCollector struct {
	pool                          *pgxpool.Pool
	total, idle, inUse, max, wait *prometheus.Desc
	acquires                      *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("haul_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:     pool,
		total:    d("connections", "Open connections."),
		idle:     d("idle_connections", "Idle connections."),
		inUse:    d("acquired_connections", "Connections in use."),
		max:      d("max_connections", "Most connections the pool opens."),
		wait:     d("acquire_wait_seconds_total", "Time spent waiting for a connection."),
		acquires: d("acquires_total", "Connections acquired."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.inUse, c.max, c.wait, c.acquires} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(st.TotalConns()))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(st.IdleConns()))
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(st.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.wait, prometheus.CounterValue, st.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(st.AcquireCount()))
}
