package rollup

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// VersionCollector exports the served data version and its age, read from
// the database at scrape time: the API and the listener register it.
type VersionCollector struct {
	q            Querier
	log          logr.Logger
	version, age *prometheus.Desc
}

// NewVersionCollector reads the version through q; log says why a read
// failed (at V(1)), and the scrape then lacks both series.
func NewVersionCollector(q Querier, log logr.Logger) *VersionCollector {
	return &VersionCollector{q: q, log: log,
		version: prometheus.NewDesc("haul_aggregates_version",
			"The data version the aggregates are served at (0: none yet).", nil, nil),
		age: prometheus.NewDesc("haul_aggregates_age_seconds",
			"Seconds since the served data version was published (absent while none is).", nil, nil),
	}
}

// Describe sends the two series' descriptions (prometheus.Collector).
func (c *VersionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.version
	ch <- c.age
}

// Collect reads the version and sends the series (prometheus.Collector).
func (c *VersionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var version int64
	var at *time.Time
	if err := c.q.QueryRow(ctx, `SELECT version, refreshed_at FROM precalc_state`).Scan(&version, &at); err != nil {
		c.log.V(1).Info("data version not read for metrics", "reason", err.Error())
		return
	}
	ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(version))
	if at != nil && version > 0 {
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, time.Since(*at).Seconds())
	}
}
