// Package apiserver serves Haul's REST API: the endpoints of docs/api.md, wire-
// compatible with the reference, computed from the precomputed aggregates
// only (internal/rollup), plus Haul's own health, metrics, run and OpenAPI
// endpoints.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"

	"github.com/haul-dev/haul/internal/db"
)

// DefaultAddr is where the reference served, and where its dashboard client
// looks (docs/api.md#11-transport).
const DefaultAddr = ":8000"

// DefaultCORSOrigins are allowed when none are configured (docs/api.md#11-transport).
var DefaultCORSOrigins = []string{"http://localhost:3000", "http://localhost:8000"}

// Config configures a Server.
type Config struct {
	Pool *pgxpool.Pool
	Log  logr.Logger
	// CORSOrigins are the origins allowed to read responses; nil means
	// DefaultCORSOrigins.
	CORSOrigins []string
	// APIKeys, when not empty, are required on every /api route.
	APIKeys []string
	// SchemaVersion is the migration the binary expects; /readyz reports not
	// ready until the database has it.
	SchemaVersion int64
	// CacheEntries bounds the answers kept per data version (default 512).
	CacheEntries int
	// NoAnswerCache computes every answer afresh, in the request's own
	// snapshot, for measuring what an answer costs; answers still carry
	// ETags.
	NoAnswerCache bool
	// NoIndex reads every family from SQL, instead of the route and
	// vehicle families from an index built in memory per data version
	// (rollup.Index), for deployments that cannot spare its memory.
	NoIndex bool
	// Registry, if set, is served on /metrics with the API's own series
	// added; else the API has a registry of its own.
	Registry *prometheus.Registry
}

// Server is the API server.
type Server struct {
	cfg     Config
	engine  *gin.Engine
	handler http.Handler
	cache   *answerCache
	// routeCache keeps route lists per data version and window.
	routeCache *routeCache
	// index is nil with Config.NoIndex.
	index   *indexer
	flight  singleflight.Group
	metrics *metrics
	reg     *prometheus.Registry
	apiDoc  docsCache
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Pool == nil {
		return nil, errors.New("apiserver: no database pool")
	}
	if cfg.CORSOrigins == nil {
		cfg.CORSOrigins = DefaultCORSOrigins
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 512
	}
	s := &Server{cfg: cfg, cache: newAnswerCache(cfg.CacheEntries), routeCache: newRouteCache(8),
		reg: cfg.Registry}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	s.metrics = newMetrics(s.reg, cfg.Pool, cfg.Log)
	if !cfg.NoIndex {
		s.index = newIndexer(cfg.Pool, cfg.Log, s.metrics)
	}

	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RemoveExtraSlash = false
	e.RedirectTrailingSlash = false
	e.Use(s.recoverPanics, s.observe)
	// Unknown /api paths need a key too, so that without one nothing tells
	// which paths exist.
	e.NoRoute(s.authenticateAPI, func(c *gin.Context) { c.JSON(http.StatusNotFound, detail("Not Found")) })
	e.NoMethod(s.authenticateAPI, func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, detail("Method Not Allowed")) })

	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
	e.GET("/openapi.json", s.openAPI)
	e.GET("/docs", s.docs)

	api := e.Group("/api", s.authenticate)
	for _, ep := range endpoints {
		api.GET(ep.path, s.serveEndpoint(ep))
	}
	v1 := api.Group("/v1")
	v1.GET("/runs", s.listRuns)
	v1.GET("/runs/:run_id", s.getRun)
	v1.GET("/version", s.dataVersion)

	s.engine = e
	s.handler = s.cors(headAsGet(e))
	// Best effort, so that the metric is right before the first request.
	if _, err := s.currentVersion(context.Background()); err != nil {
		cfg.Log.V(1).Info("data version not read at start", "reason", err.Error())
	}
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on l until ctx is done, then shuts down gracefully: new
// connections are refused and requests in flight get up to 20 s to finish.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(refusalListener{l}) }()
	s.cfg.Log.Info("serving", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func detail(msg string) gin.H { return gin.H{"detail": msg} }

// recoverPanics answers 500 without details (D18) and logs what happened.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Log.Error(fmt.Errorf("panic: %v", r), "request panicked", "path", c.Request.URL.Path)
			c.AbortWithStatusJSON(http.StatusInternalServerError, detail("Internal server error"))
		}
	}()
	c.Next()
}

// observe logs each request and counts it by route and status.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	took := time.Since(start)
	status := c.Writer.Status()
	s.metrics.observe(route, status, took)
	s.cfg.Log.V(1).Info("request", "method", c.Request.Method, "route", route, "path", c.Request.URL.Path,
		"status", status, "seconds", took.Seconds(), "bytes", c.Writer.Size())
}

// internalError logs err and answers 500 without details (D18), or 503
// when the database cannot be reached (see unavailable).
func (s *Server) internalError(c *gin.Context, err error) {
	if db.Unavailable(err) {
		s.unavailable(c, err)
		return
	}
	s.cfg.Log.Error(err, "request failed", "path", c.Request.URL.Path, "query", c.Request.URL.RawQuery)
	c.AbortWithStatusJSON(http.StatusInternalServerError, detail("Internal server error"))
}
