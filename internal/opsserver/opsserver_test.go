package opsserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "haul_test_gauge", Help: "A test gauge."})
	reg.MustRegister(g)
	var notReady error
	h := Handler(reg, func(context.Context) error { return notReady })
	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code, w.Body.String()
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz while ready: %d", code)
	}
	notReady = errors.New("no LISTEN session")
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: no LISTEN session") {
		t.Errorf("/readyz while not ready: %d %q; want 503 with the reason", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while not ready: %d, want 200 (alive)", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "haul_test_gauge 0") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, _ := get("/other"); code != http.StatusNotFound {
		t.Errorf("/other: %d, want 404", code)
	}
}
