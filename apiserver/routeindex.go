package apiserver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/rollup"
)

// routeIndexTimeout bounds the build of one route index; after a failed
// build, the next starts no sooner than routeIndexRetry.
const (
	routeIndexTimeout = 10 * time.Minute
	routeIndexRetry   = 5 * time.Second
)

// routeIndexer keeps the route index (rollup.RouteIndex) of the newest data
// version: a request that finds none for its version is answered from SQL,
// as before, and starts a build in the background, so answers never wait
// for one. Only one index is held: the previous version's is dropped when
// the next build starts, since no answer of the new version may use it.
type routeIndexer struct {
	pool    *pgxpool.Pool
	log     logr.Logger
	metrics *metrics

	current atomic.Pointer[rollup.RouteIndex]
	mu      sync.Mutex
	// building is the version being built, 0 when none is.
	building int64
	failedAt time.Time
	// built is closed and replaced after every build, for tests to wait on.
	built chan struct{}
}

func newRouteIndexer(pool *pgxpool.Pool, log logr.Logger, m *metrics) *routeIndexer {
	return &routeIndexer{pool: pool, log: log, metrics: m, built: make(chan struct{})}
}

// get returns the index of version, or nil after starting its build.
func (ri *routeIndexer) get(version int64) *rollup.RouteIndex {
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
	case time.Since(ri.failedAt) < routeIndexRetry:
		return nil
	}
	ri.building = version
	ri.current.Store(nil)
	go ri.build()
	return nil
}

// build reads the index of the version a fresh snapshot sees, which may be
// newer than the one that asked for it.
func (ri *routeIndexer) build() {
	ctx, cancel := context.WithTimeout(context.Background(), routeIndexTimeout)
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
		ri.log.Error(err, "build route index")
		return
	}
	if cur := ri.current.Load(); cur == nil || cur.Version() < x.Version() {
		ri.current.Store(x)
		ri.metrics.routeIndexVersion.Set(float64(x.Version()))
		ri.metrics.routeIndexBytes.Set(float64(x.Bytes()))
	}
	ri.log.V(1).Info("route index built", "version", x.Version(), "entries", x.Entries(), "bytes", x.Bytes(),
		"seconds", time.Since(start).Seconds())
}

func (ri *routeIndexer) load(ctx context.Context) (*rollup.RouteIndex, error) {
	tx, err := rollup.Begin(ctx, ri.pool)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	return rollup.LoadRouteIndex(ctx, tx)
}

// wait returns the index of version once built, waiting for builds to end,
// or nil when ctx ends first. For tests.
func (ri *routeIndexer) wait(ctx context.Context, version int64) *rollup.RouteIndex {
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

// indexedSource answers route families of one version from its index.
type indexedSource struct {
	source
	index *rollup.RouteIndex
}

func (s indexedSource) routes(_ context.Context, w rollup.Window) ([]rollup.Route, error) {
	return s.index.Routes(w), nil
}
