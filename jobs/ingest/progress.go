package ingest

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Progress follows a run for whoever shows it (a progress bar, log lines);
// it is safe for concurrent use.
type Progress struct {
	mu      sync.Mutex
	dataset Dataset
	file    string
	rawRead *atomic.Int64
	rawSize int64
	done    map[Dataset]counts
	// committedFile and committedRaw: the file of the last batch
	// committed, and its rawEnd.
	committedFile string
	committedRaw  int64
}

// Snapshot is the state of a run at one moment.
type Snapshot struct {
	Dataset Dataset
	File    string
	// BytesRead, BytesCommitted and BytesTotal count the current file's raw
	// (possibly compressed) bytes: read, and read by the batches committed;
	// BytesTotal is -1 when unknown. Reading runs ahead of commits by the
	// batches in flight.
	BytesRead, BytesCommitted, BytesTotal int64
	// Read, Loaded, Duplicates and Rejected count committed records of the
	// current dataset.
	Read, Loaded, Duplicates, Rejected int64
}

func (p *Progress) startFile(ds Dataset, file string, rawRead *atomic.Int64, rawSize int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dataset, p.file, p.rawRead, p.rawSize = ds, file, rawRead, rawSize
}

func (p *Progress) committed(ds Dataset, file string, rawEnd int64, got counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.committedFile, p.committedRaw = file, rawEnd
	if p.done == nil {
		p.done = map[Dataset]counts{}
	}
	c := p.done[ds]
	c.add(got)
	p.done[ds] = c
}

// Snapshot returns the current state.
func (p *Progress) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{Dataset: p.dataset, File: p.file, BytesTotal: p.rawSize}
	if p.rawRead != nil {
		s.BytesRead = p.rawRead.Load()
	}
	if p.committedFile == p.file {
		s.BytesCommitted = p.committedRaw
	}
	c := p.done[p.dataset]
	s.Read, s.Loaded, s.Duplicates, s.Rejected = c.read, c.loaded, c.duplicates, c.rejected
	return s
}

// Metrics are the Prometheus series a run feeds.
type Metrics struct {
	records *prometheus.CounterVec
	rejects *prometheus.CounterVec
	batches *prometheus.CounterVec
}

// NewMetrics registers ingest's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_ingest_records_total",
			Help: "Records committed, by dataset and outcome (loaded, duplicate, rejected).",
		}, []string{"dataset", "outcome"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_ingest_rejects_total",
			Help: "Rejected records, by dataset and reason.",
		}, []string{"dataset", "reason"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_ingest_batches_total",
			Help: "Batches committed, by dataset.",
		}, []string{"dataset"}),
	}
	reg.MustRegister(m.records, m.rejects, m.batches)
	return m
}

// Records is haul_ingest_records_total.
func (m *Metrics) Records() *prometheus.CounterVec { return m.records }

func (m *Metrics) observe(ds Dataset, got counts) {
	d := string(ds)
	m.records.WithLabelValues(d, "loaded").Add(float64(got.loaded))
	m.records.WithLabelValues(d, "duplicate").Add(float64(got.duplicates))
	m.records.WithLabelValues(d, "rejected").Add(float64(got.rejected))
	for reason, n := range got.byReason {
		m.rejects.WithLabelValues(d, reason).Add(float64(n))
	}
	m.batches.WithLabelValues(d).Inc()
}
