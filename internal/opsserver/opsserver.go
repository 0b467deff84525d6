// Package opsserver serves what a cluster asks of a process that has no API
// of its own (haul listen, haul ingest): /healthz, /readyz and /metrics.
package opsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds a readiness check, below a probe's usual timeout.
const readyTimeout = 2 * time.Second

// ReadyFunc says why the process is not ready, or nil when it is.
type ReadyFunc func(ctx context.Context) error

// Handler serves /healthz (the process answers), /readyz (ready returns nil;
// nil ready means always) and /metrics (gatherer's series).
func Handler(gatherer prometheus.Gatherer, ready ReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

// Serve serves Handler on addr until stop is called; it returns once the
// address is bound, so a bad address is reported at start.
func Serve(ctx context.Context, addr string, h http.Handler, log logr.Logger) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "metrics server stopped")
		}
	}()
	log.Info("serving health and metrics", "addr", l.Addr().String())
	return func() {
		_ = srv.Shutdown(context.WithoutCancel(ctx))
		<-done
	}, nil
}
