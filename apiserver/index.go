package apiserver

import (
	"context"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/rollup"
)

// indexTimeout bounds the build of one index; after a failed build, the
// next starts no sooner than indexRetry.
const (
	indexTimeout = 10 * time.Minute
	indexRetry   = 5 * time.Second
)

// indexHeadroom is the memory the server keeps for everything beside its
// index under the soft limit it sets (limitMemory): the answer cache
// (answerCacheBytes), the answers being computed (tens of MB each for a
// window of tens of thousands of routes) and buffers.
const indexHeadroom = 128 << 20

// limitMemory sets Go's soft memory limit to the index's bytes and
// indexHeadroom, unless $GOMEMLIMIT sets one. Without a limit the heap
// grows to twice what is live before the collector runs, and an index of
// hundreds of MB is live: the garbage of a few cold answers would double
// the server's memory.
func limitMemory(bytes int64) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(bytes + indexHeadroom)
	}
}

// indexer keeps the in-memory indexes (rollup.Index) of the newest data
// version: a request that finds none for its version is answered from SQL
// and starts a build in the background, so answers never wait for one.
// Only one version's is held: the previous one's is dropped when the next
// build starts, since no answer of the new version may use it.
type indexer struct {
	pool    *pgxpool.Pool
	log     logr.Logger
	metrics *metrics

	current atomic.Pointer[rollup.Index]
	mu      sync.Mutex
	// building is the version being built, 0 when none is.
	building int64
	failedAt time.Time
	// built is closed and replaced after every build, for tests to wait on.
	built chan struct{}
}

func newIndexer(pool *pgxpool.Pool, log logr.Logger, m *metrics) *indexer {
	return &indexer{pool: pool, log: log, metrics: m, built: make(chan struct{})}
}

// get returns the index of version, or nil after starting its build.
func (ri *indexer) get(version int64) *rollup.Index {
	if x := ri.current.Load(); x != nil && x.Version() == version {
		return x
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	x := ri.current.Load()
	switch {
	case x != nil && x.Version() == version:
		return x
	case x != nil && x.Version() > version, ri.building >= version:
		// Built or being built for a newer version, which this request's
		// snapshot does not see, or being built for this one.
		return nil
	case time.Since(ri.failedAt) < indexRetry:
		return nil
	}
	ri.building = version
	ri.current.Store(nil)
	// The memory limit stays the old index's: the new one takes its place
	// and is about its size, unless the data grew much.
	go ri.build()
	return nil
}

// build reads the index of the version a fresh snapshot sees, which may be
// newer than the one that asked for it.
func (ri *indexer) build() {
	ctx, cancel := context.WithTimeout(context.Background(), indexTimeout)
	defer cancel()
	start := time.Now()
	x, err := ri.load(ctx)
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.building = 0
	close(ri.built)
	ri.built = make(chan struct{})
	if err != nil {
		ri.failedAt = time.Now()
		ri.log.Error(err, "build index")
		return
	}
	// Hand what the build freed back to the system now rather than when
	// the heap grows again.
	debug.FreeOSMemory()
	if cur := ri.current.Load(); cur == nil || cur.Version() < x.Version() {
		ri.current.Store(x)
		limitMemory(x.Bytes())
		ri.metrics.indexVersion.Set(float64(x.Version()))
		ri.metrics.indexBytes.Set(float64(x.Bytes()))
	}
	ri.log.V(1).Info("index built", "version", x.Version(), "routeEntries", x.Routes.Entries(),
		"vehicleEntries", x.Vehicles.Entries(), "bytes", x.Bytes(), "seconds", time.Since(start).Seconds())
}

func (ri *indexer) load(ctx context.Context) (*rollup.Index, error) {
	tx, err := rollup.Begin(ctx, ri.pool)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	return rollup.LoadIndex(ctx, tx)
}

// wait returns the index of version once built, waiting for builds to end,
// or nil when ctx ends first. For tests.
func (ri *indexer) wait(ctx context.Context, version int64) *rollup.Index {
	for {
		// The channel is taken before get may start a build, so that build's
		// end closes it.
		ri.mu.Lock()
		built := ri.built
		ri.mu.Unlock()
		if x := ri.get(version); x != nil {
			return x
		}
		select {
		case <-built:
		case <-ctx.Done():
			return nil
		}
	}
}

// indexedSource answers the route and vehicle families of one version
// from its index, and the rest from q, that version's snapshot.
type indexedSource struct {
	source
	q     rollup.Querier
	index *rollup.Index
	// lists are the route lists handed out, for release to recycle; nil
	// not to recycle them.
	lists *[]*[]rollup.Route
}

// routeLists recycles route lists: a long window's is tens of MB at
// millions of shipments, and every cold route answer makes one.
var routeLists sync.Pool // of *[]rollup.Route

func (s indexedSource) routes(_ context.Context, w rollup.Window) ([]rollup.Route, error) {
	if s.lists == nil {
		return s.index.Routes.Routes(w), nil
	}
	p, _ := routeLists.Get().(*[]rollup.Route)
	if p == nil {
		p = new([]rollup.Route)
	}
	*p = s.index.Routes.RoutesInto(w, *p)
	*s.lists = append(*s.lists, p)
	return *p, nil
}

// release recycles the route lists handed out: nothing may use them after,
// nor anything from the answers computed from them but what was copied.
func (s indexedSource) release() {
	if s.lists == nil {
		return
	}
	for _, p := range *s.lists {
		clear(*p)
		routeLists.Put(p)
	}
	*s.lists = nil
}

func (s indexedSource) vehicles(_ context.Context, w rollup.Window) ([]rollup.Vehicle, error) {
	return s.index.Vehicles.Vehicles(w), nil
}

func (s indexedSource) totals(ctx context.Context, w rollup.Window) (rollup.Totals, error) {
	t, err := rollup.ReadTotalsExceptVehicles(ctx, s.q, w)
	t.Vehicles = s.index.Vehicles.CountVehicles(w)
	return t, err
}
