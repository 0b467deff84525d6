package controllers

import (
	"github.com/prometheus/client_golang/prometheus"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
)

// Metrics count the runs' outcomes, next to controller-runtime's own series.
type Metrics struct {
	finishedRuns *prometheus.CounterVec
	durations    *prometheus.HistogramVec
	records      *prometheus.CounterVec
}

// NewMetrics registers the run series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		finishedRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_ingestionruns_finished_total",
			Help: "IngestionRuns that ended, by phase (Succeeded, Failed) and reason.",
		}, []string{"phase", "reason"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "haul_ingestionrun_duration_seconds",
			Help:    "Time from an IngestionRun's start (leaving the queue) to its end, by phase.",
			Buckets: prometheus.ExponentialBuckets(5, 2, 12), // 5 s to about 3 h
		}, []string{"phase"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_ingestionrun_records_total",
			Help: "Records of ended IngestionRuns, by outcome (loaded, duplicate, rejected).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.finishedRuns, m.durations, m.records)
	return m
}

func (m *Metrics) finished(run *haulv1alpha1.IngestionRun) {
	st := &run.Status
	phase := string(st.Phase)
	m.finishedRuns.WithLabelValues(phase, st.Reason).Inc()
	if st.StartTime != nil && st.CompletionTime != nil {
		m.durations.WithLabelValues(phase).Observe(st.CompletionTime.Sub(st.StartTime.Time).Seconds())
	}
	for _, d := range st.Datasets {
		m.records.WithLabelValues("loaded").Add(float64(d.Loaded))
		m.records.WithLabelValues("duplicate").Add(float64(d.Duplicates))
		m.records.WithLabelValues("rejected").Add(float64(d.Rejected))
	}
}
