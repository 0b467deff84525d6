package apiserver

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/haul-dev/haul/internal/rollup"
)

// computeTimeout bounds one answer's computation.
const computeTimeout = time.Minute

// versionTTL is how long a data version read from the database is trusted
// before it is read again: a refresh becomes visible within it.
const versionTTL = 250 * time.Millisecond

// serveEndpoint answers one endpoint of the contract. Every answer comes
// from one snapshot of the aggregates (rollup.Begin), so from one data
// version; answers are cached per version and URL, and carry an ETag made
// of both, so If-None-Match saves the work and the bytes.
func (s *Server) serveEndpoint(ep endpoint) gin.HandlerFunc {
	return func(c *gin.Context) {
		run, params, err := ep.bind(c)
		var perr *ParamError
		if errors.As(err, &perr) {
			c.AbortWithStatusJSON(http.StatusBadRequest, detail(perr.Error()))
			return
		}
		if err != nil {
			s.respond(c, nil, "", err)
			return
		}
		if ep.unversioned {
			body, _, err := s.compute(c.Request.Context(), run)
			s.respond(c, body, "", err)
			return
		}
		key := c.Request.URL.Path + "?" + params
		// The current version lets a repeated request skip the snapshot;
		// the cached answer was computed from that version.
		if v := s.servableVersion(c.Request.Context()); v > 0 && !s.cfg.NoAnswerCache {
			if a, ok := s.cache.get(v, key); ok {
				s.metrics.answers.WithLabelValues("hit").Inc()
				s.respond(c, a.body, a.etag, nil)
				return
			}
		}
		s.metrics.answers.WithLabelValues("miss").Inc()
		computeAnswer := func() (any, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), computeTimeout)
			defer cancel()
			body, version, err := s.compute(ctx, run)
			if err != nil {
				return nil, err
			}
			a := answer{body: body, etag: etag(version, key)}
			if !s.cfg.NoAnswerCache {
				s.cache.put(version, key, a)
			}
			return a, nil
		}
		var shared any
		if s.cfg.NoAnswerCache {
			// Afresh: in this request's own snapshot.
			shared, err = computeAnswer()
		} else {
			// Concurrent requests for the same answer wait for one
			// computation, which does not end when the first requester
			// hangs up.
			shared, err, _ = s.flight.Do(key, computeAnswer)
		}
		if err != nil {
			s.respond(c, nil, "", err)
			return
		}
		a := shared.(answer)
		s.respond(c, a.body, a.etag, nil)
	}
}

// currentVersion is the served data version, read at most every versionTTL.
func (s *Server) currentVersion(ctx context.Context) (int64, error) {
	if v, ok := s.cache.freshVersion(versionTTL); ok {
		return v, nil
	}
	v, err := rollup.ReadVersion(ctx, s.cfg.Pool)
	if err != nil {
		return 0, err
	}
	s.cache.seeVersion(v)
	s.metrics.dataVersion.Set(float64(v))
	return v, nil
}

// compute runs an answer in a fresh snapshot and returns it as JSON with
// the data version it came from.
func (s *Server) compute(ctx context.Context, run compute) ([]byte, int64, error) {
	tx, err := rollup.Begin(ctx, s.cfg.Pool)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	version, err := rollup.ReadVersion(ctx, tx)
	if err != nil {
		return nil, 0, err
	}
	s.cache.seeVersion(version)
	s.metrics.dataVersion.Set(float64(version))
	var src source = &cachedSource{source: txSource{q: tx}, version: version, cache: s.routeCache}
	if s.index != nil {
		// The index answers any window's routes in milliseconds: keeping
		// route lists in memory too would only hold tens of MB each.
		if x := s.index.get(version); x != nil {
			is := indexedSource{source: src, q: tx, index: x, lists: new([]*[]rollup.Route)}
			// After the answer is encoded: its route lists are recycled.
			defer is.release()
			src = is
		}
	}
	result, err := run(ctx, src)
	if err != nil {
		return nil, version, err
	}
	body, err := marshal(result)
	if err != nil {
		return nil, version, fmt.Errorf("encode answer: %w", err)
	}
	return body, version, nil
}

func (s *Server) respond(c *gin.Context, body []byte, tag string, err error) {
	switch {
	case errors.Is(err, errVehicleNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, detail(errVehicleNotFound.Error()))
		return
	case err != nil:
		s.internalError(c, err)
		return
	}
	if tag != "" {
		c.Header("ETag", tag)
		// Clients may keep the answer but must ask whether it still holds.
		c.Header("Cache-Control", "no-cache")
		if etagMatches(c.GetHeader("If-None-Match"), tag) {
			c.Status(http.StatusNotModified)
			return
		}
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// etag names an answer by data version and request.
func etag(version int64, key string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return fmt.Sprintf(`"v%d-%016x"`, version, h.Sum64())
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// answer is a computed response body and its ETag.
type answer struct {
	body []byte
	etag string
}

// answerCacheBytes bounds the bytes of the answers kept: a vehicle list of
// thousands of vehicles is a MB, and the server's memory is bounded
// (limitMemory).
const answerCacheBytes = 32 << 20

// answerCache keeps recent answers of the newest data versions, least
// recently used first out.
type answerCache struct {
	mu      sync.Mutex
	bytes   int // of the answers kept
	version int64
	seenAt  time.Time
	entries *simplelru.LRU[cacheKey, answer]
}

type cacheKey struct {
	version int64
	key     string
}

func newAnswerCache(maxEntries int) *answerCache {
	c := &answerCache{}
	// The callback runs inside the calls below, under c.mu.
	c.entries, _ = simplelru.NewLRU(maxEntries, func(_ cacheKey, a answer) { c.bytes -= len(a.body) })
	return c
}

// seeVersion records a version read from the database; answers of older
// versions stop being served.
func (c *answerCache) seeVersion(v int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v >= c.version {
		c.version, c.seenAt = v, time.Now()
	}
}

// freshVersion is the newest version seen, if read within ttl.
func (c *answerCache) freshVersion(ttl time.Duration) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version, !c.seenAt.IsZero() && time.Since(c.seenAt) < ttl
}

func (c *answerCache) get(version int64, key string) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Get(cacheKey{version, key})
}

func (c *answerCache) put(version int64, key string, a answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version < c.version {
		return
	}
	// Remove calls the eviction callback with the answer replaced (Add
	// would not).
	k := cacheKey{version, key}
	c.entries.Remove(k)
	c.entries.Add(k, a)
	c.bytes += len(a.body)
	// The newest answer stays, however large.
	for c.bytes > answerCacheBytes && c.entries.Len() > 1 {
		c.entries.RemoveOldest()
	}
}

// cachedSource keeps the route families, the costly ones, of one data
// version for the requests that follow: paging or re-sorting a route list
// then costs no query.
type cachedSource struct {
	source
	version int64
	cache   *routeCache
}

func (c *cachedSource) routes(ctx context.Context, w rollup.Window) ([]rollup.Route, error) {
	key := routeCacheKey{version: c.version, window: w}
	if r, ok := c.cache.get(key); ok {
		return r.([]rollup.Route), nil
	}
	r, err := c.source.routes(ctx, w)
	if err == nil {
		c.cache.put(key, r)
	}
	return r, err
}

func (c *cachedSource) routeTotals(ctx context.Context) ([]rollup.RouteTotal, error) {
	key := routeCacheKey{version: c.version, totals: true}
	if r, ok := c.cache.get(key); ok {
		return r.([]rollup.RouteTotal), nil
	}
	r, err := c.source.routeTotals(ctx)
	if err == nil {
		c.cache.put(key, r)
	}
	return r, err
}

type routeCacheKey struct {
	version int64
	window  rollup.Window
	totals  bool
}

// routeCache holds a few route lists (tens of MB each at millions of
// shipments), least recently used out. Callers must not modify them.
type routeCache struct {
	mu      sync.Mutex
	entries *simplelru.LRU[routeCacheKey, any]
}

func newRouteCache(size int) *routeCache {
	lru, _ := simplelru.NewLRU[routeCacheKey, any](size, nil)
	return &routeCache{entries: lru}
}

func (c *routeCache) get(k routeCacheKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Get(k)
}

func (c *routeCache) put(k routeCacheKey, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Add(k, v)
}
