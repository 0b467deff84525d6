package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/testutil"
	"github.com/haul-dev/haul/internal/testutil/pgtest"
	"github.com/haul-dev/haul/jobs/ingest"
	"github.com/haul-dev/haul/jobs/precalc"
)

// HTTP-level tests: requests go through Server.Handler() as a client's
// would, against a real database; TestServeShutsDownGracefully uses a real
// listener. Expected bodies are written out from docs/api.md, not derived from
// the code under test.

// srvEnv is a fresh database with a server in front of it.
type srvEnv struct {
	*ansEnv
	url string
	srv *Server
}

func newSrvEnv(t *testing.T, cfg Config) *srvEnv {
	t.Helper()
	url := dbtest.New(t)
	e := &srvEnv{ansEnv: &ansEnv{&pgtest.Env{T: t, Pool: dbtest.Pool(t, url), Dir: t.TempDir()}}, url: url}
	e.srv = e.server(cfg)
	return e
}

// newLoadedSrvEnv is newSrvEnv with data loaded as the run "first" and the
// aggregates refreshed.
func newLoadedSrvEnv(t *testing.T, data datagen.Config) *srvEnv {
	t.Helper()
	e := newSrvEnv(t, Config{})
	e.load("first", data)
	e.refresh()
	return e
}

// server builds a server on the env's database; cfg.Pool defaults to the
// env's pool.
func (e *srvEnv) server(cfg Config) *Server {
	e.T.Helper()
	if cfg.Pool == nil {
		cfg.Pool = e.Pool
	}
	s, err := New(cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	return s
}

// get sends GET target to the env's server; header holds name, value pairs.
func (e *srvEnv) get(target string, header ...string) *httptest.ResponseRecorder {
	return srvDo(e.srv, http.MethodGet, target, header...)
}

func srvDo(s *Server, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func (e *srvEnv) exec(sql string) {
	e.T.Helper()
	if _, err := e.Pool.Exec(context.Background(), sql); err != nil {
		e.T.Fatalf("%s: %v", sql, err)
	}
}

func (e *srvEnv) scalar(sql string) any {
	e.T.Helper()
	return pgtest.Scalar[any](e.T, e.Pool, sql)
}

// version is the served data version.
func (e *srvEnv) version() int64 { return e.scalar(`SELECT version FROM precalc_state`).(int64) }

// vehicleID is a vehicle with trips.
func (e *srvEnv) vehicleID() string {
	return e.scalar(`SELECT min(vehicle_id) FROM vehicle_logs`).(string)
}

// ingest loads inputs as run id and returns what ingest reported.
func (e *srvEnv) ingest(id string, inputs map[ingest.Dataset][]string) (*ingest.Report, error) {
	return ingest.Run(context.Background(), e.Pool, ingest.Options{
		RunID: id, Inputs: inputs, RejectsDir: filepath.Join(e.Dir, "rejects"), Log: logr.Discard(),
	})
}

func (e *srvEnv) refreshWith(opts precalc.Options) precalc.Result {
	e.T.Helper()
	opts.Log = logr.Discard()
	res, err := precalc.Refresh(context.Background(), e.Pool, opts)
	if err != nil {
		e.T.Fatalf("refresh: %v", err)
	}
	return res
}

// srvInputs are the three files datagen wrote into dir.
func srvInputs(dir string) map[ingest.Dataset][]string {
	inputs := map[ingest.Dataset][]string{}
	for _, ds := range datagen.Datasets {
		inputs[ds] = []string{filepath.Join(dir, string(ds)+".json")}
	}
	return inputs
}

// srvSpan covers every day datagen generates by default.
const srvSpan = "start=2023-01-01&end=2025-12-31"

// srvTargets is one valid request per /api route: vid names the vehicle of
// 3.5, run an ingestion run.
func srvTargets(vid, run string) []string {
	return []string{
		"/api/dashboard?" + srvSpan + "&interval_type=month",
		"/api/shipments/analytics?" + srvSpan,
		"/api/shipments/routes",
		"/api/vehicles/metrics?" + srvSpan,
		"/api/vehicles/" + url.PathEscape(vid) + "/details?" + srvSpan,
		"/api/route/reliability?" + srvSpan,
		"/api/route/cost-value?" + srvSpan,
		"/api/route/optimization?" + srvSpan,
		"/api/route/top-performing?" + srvSpan,
		"/api/costs/overview?" + srvSpan,
		"/api/system/status",
		"/api/v1/runs",
		"/api/v1/runs/" + url.PathEscape(run),
		"/api/v1/version",
	}
}

// srvVersioned are the targets whose answers come from a data version.
func srvVersioned(targets []string) []string {
	return slices.DeleteFunc(slices.Clone(targets), func(t string) bool {
		return strings.HasPrefix(t, "/api/v1/") || strings.HasPrefix(t, "/api/system/status")
	})
}

// srvMatch reports whether a gin route pattern matches path.
func srvMatch(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], ":") {
			if qs[i] == "" {
				return false
			}
		} else if ps[i] != qs[i] {
			return false
		}
	}
	return true
}

// srvCovers fails t unless targets exercise every /api route s serves, so
// a route added later is not left out of a test.
func srvCovers(t *testing.T, s *Server, targets []string) {
	t.Helper()
	for _, r := range s.servedRoutes() {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		if !slices.ContainsFunc(targets, func(target string) bool {
			u, err := url.Parse(target)
			return err == nil && srvMatch(r.Path, u.Path)
		}) {
			t.Errorf("route %s %s is not exercised by this test", r.Method, r.Path)
		}
	}
}

// srvWant checks a JSON response's status and exact body.
func srvWant(t *testing.T, what string, w *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	if w.Code != status || w.Body.String() != body {
		t.Errorf("%s: %d %s\nwant %d %s", what, w.Code, w.Body, status, body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

func srvDecode[T any](t *testing.T, what string, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if w.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", what, w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s: %v in %s", what, err, w.Body)
	}
	return v
}

// srvEventually waits for cond, failing t after a generous deadline that
// only a hung test reaches.
func srvEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	}) != nil {
		t.Fatalf("gave up waiting for %s", what)
	}
}

const (
	srvInternal     = `{"detail":"Internal server error"}`
	srvUnauthorized = `{"detail":"Not authenticated"}`
)

// TestEmptyDatabaseOverHTTP: before any load every endpoint answers 200
// with zeros and empty lists, except 3.5's 404 (docs/api.md#4-aggregate-refresh, 3.11).
func TestEmptyDatabaseOverHTTP(t *testing.T) {
	e := newSrvEnv(t, Config{})
	w := "start=2024-01-01&end=2024-12-31"
	page := `{"data":[],"total":0,"page":1,"page_size":10}`
	cases := []struct {
		target string
		status int
		body   string
	}{
		{"/api/dashboard?" + w + "&interval_type=month", 200,
			`{"total_shipments":0,"active_vehicles":0,"total_revenue":0,"avg_delivery_time":0,"shipment_trend":0,"vehicle_trend":0,"revenue_trend":0,"delivery_time_trend":0}`},
		{"/api/shipments/analytics?" + w, 200,
			`{"overview":{"total_shipments":0,"avg_delivery_time":0,"total_cost":0,"avg_cost_per_shipment":0,"total_weight":0,"unique_origins":0,"unique_destinations":0},"expensive_routes":[]}`},
		{"/api/shipments/routes", 200, page},
		{"/api/shipments/routes?page=4&page_size=100", 200, `{"data":[],"total":0,"page":4,"page_size":100}`},
		{"/api/vehicles/metrics?" + w, 200, `[]`},
		{"/api/vehicles/V001/details?" + w, 404, `{"detail":"Vehicle not found"}`},
		{"/api/route/reliability?" + w, 200, page},
		{"/api/route/cost-value?" + w, 200, page},
		{"/api/route/optimization?" + w, 200, page},
		{"/api/route/top-performing?" + w, 200, `[]`},
		{"/api/costs/overview?" + w, 200,
			`{"total_cost":0,"avg_cost_per_shipment":0,"total_shipments":0,"cost_per_km":0,"cost_per_kg":0,"vehicles_used":0,"prev_total_cost":0,"prev_avg_cost":0,"cost_growth_percentage":0,"avg_cost_growth_percentage":0,"top_cost_routes":[]}`},
		{"/api/system/status", 200, `{"is_calculating":false,"last_calculated_at":null,"error_message":null}`},
		{"/api/v1/runs", 200, page},
		{"/api/v1/runs?page=3&page_size=5", 200, `{"data":[],"total":0,"page":3,"page_size":5}`},
		{"/api/v1/runs/nope", 404, `{"detail":"Run not found"}`},
		{"/api/v1/version", 200,
			`{"version":0,"refreshed_at":null,"refreshing":false,"stale":false,"last_error":null,"last_error_at":null}`},
	}
	var targets []string
	for _, c := range cases {
		srvWant(t, c.target, e.get(c.target), c.status, c.body)
		targets = append(targets, c.target)
	}
	srvCovers(t, e.srv, targets)
}

// TestSystemStatusOverHTTP: is_calculating only while the first version is
// built, error_message only when building it failed; neither once a version
// is served, where /api/v1/version reports them instead (docs/api.md#311-get-apisystemstatus, D20).
// The status is read afresh on every request.
func TestSystemStatusOverHTTP(t *testing.T) {
	e := newSrvEnv(t, Config{})
	ctx := context.Background()
	// status returns the answer, decoded and as sent.
	status := func() (SystemStatus, string) {
		t.Helper()
		w := e.get("/api/system/status")
		if tag := w.Header().Get("ETag"); tag != "" {
			t.Errorf("system status has ETag %s", tag)
		}
		return srvDecode[SystemStatus](t, "status", w), w.Body.String()
	}
	show := func() string { t.Helper(); _, body := status(); return body }
	version := func() DataVersion { t.Helper(); return srvDecode[DataVersion](t, "version", e.get("/api/v1/version")) }
	idle := `{"is_calculating":false,"last_calculated_at":null,"error_message":null}`
	if got := show(); got != idle {
		t.Errorf("before any load: %s, want %s", got, idle)
	}

	// A session holding the refresh lock is a refresh running.
	lock := func() (unlock func()) {
		t.Helper()
		conn, err := e.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, db.PrecalcLockID); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, db.PrecalcLockID); err != nil {
				t.Error(err)
			}
			conn.Release()
		}
	}
	unlock := lock()
	if got, want := show(), `{"is_calculating":true,"last_calculated_at":null,"error_message":null}`; got != want {
		t.Errorf("first build running: %s, want %s", got, want)
	}
	if v := version(); !v.Refreshing || v.Version != 0 {
		t.Errorf("first build running: /api/v1/version %+v", v)
	}
	unlock()
	if got := show(); got != idle {
		t.Errorf("after the lock is released: %s, want %s", got, idle)
	}

	// The first build fails: a rollup table is missing while it runs.
	e.load("first", datagen.Config{Shipments: 500, Cities: 8, Seed: 11})
	e.exec(`ALTER TABLE agg_totals RENAME TO agg_totals_away`)
	if _, err := precalc.Refresh(ctx, e.Pool, precalc.Options{Log: logr.Discard()}); err == nil {
		t.Fatal("refresh without agg_totals succeeded")
	}
	e.exec(`ALTER TABLE agg_totals_away RENAME TO agg_totals`)
	st, body := status()
	if st.IsCalculating || st.LastCalculatedAt != nil || st.ErrorMessage == nil ||
		*st.ErrorMessage == "" || strings.ContainsAny(*st.ErrorMessage, "\r\n") {
		t.Errorf("first build failed: %s; want an error message on one line", body)
	}
	if v := version(); v.Version != 0 || v.LastError == nil || st.ErrorMessage == nil || *v.LastError != *st.ErrorMessage || v.LastErrorAt == nil {
		t.Errorf("first build failed: /api/v1/version %+v", v)
	}

	// A version is served: later refreshes and failures stay out of 3.11.
	e.refresh()
	at := e.scalar(`SELECT to_char(refreshed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM precalc_state`).(string)
	served := fmt.Sprintf(`{"is_calculating":false,"last_calculated_at":%q,"error_message":null}`, at)
	if got := show(); got != served {
		t.Errorf("version served: %s, want %s", got, served)
	}
	unlock = lock()
	defer unlock()
	e.exec(`UPDATE precalc_state SET last_error = 'refresh aggregates: disk full', last_error_at = now()`)
	if got := show(); got != served {
		t.Errorf("later refresh running after a failure: %s, want %s", got, served)
	}
	if v := version(); v.Version != 1 || !v.Refreshing || v.LastError == nil || *v.LastError != "refresh aggregates: disk full" {
		t.Errorf("later refresh running after a failure: /api/v1/version %+v", v)
	}
}

// TestNotFoundAndMethodNotAllowed: docs/api.md#11-transport's bodies.
func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	e := newSrvEnv(t, Config{})
	for _, target := range []string{"/nope", "/api", "/api/nope", "/api/v1/nope", "/api/dashboard/",
		"/API/dashboard", "/api/vehicles/V1", "/api/v1/runs/a/b"} {
		srvWant(t, "GET "+target, e.get(target), http.StatusNotFound, `{"detail":"Not Found"}`)
	}
	for _, c := range [][2]string{
		{http.MethodPost, "/api/dashboard"}, {http.MethodPut, "/api/shipments/routes"},
		{http.MethodDelete, "/api/v1/runs/r1"}, {http.MethodPatch, "/api/v1/version"}, {http.MethodPost, "/healthz"},
	} {
		srvWant(t, c[0]+" "+c[1], srvDo(e.srv, c[0], c[1]), http.StatusMethodNotAllowed, `{"detail":"Method Not Allowed"}`)
	}
}

// TestCORS: docs/api.md#11-transport.
func TestCORS(t *testing.T) {
	e := newSrvEnv(t, Config{})
	custom := e.server(Config{CORSOrigins: []string{"https://dash.example.com"}})
	anyOrigin := e.server(Config{CORSOrigins: []string{"*"}})
	keyed := e.server(Config{APIKeys: []string{"k"}})
	for _, c := range []struct {
		name    string
		s       *Server
		origin  string
		allowed bool
	}{
		{"default", e.srv, "http://localhost:3000", true},
		{"default", e.srv, "http://localhost:8000", true},
		{"default", e.srv, "http://localhost:3001", false},
		{"default", e.srv, "https://evil.example", false},
		{"default", e.srv, "null", false},
		{"custom", custom, "https://dash.example.com", true},
		{"custom", custom, "http://localhost:3000", false},
		{"any", anyOrigin, "https://whatever.example", true},
		{"keyed", keyed, "http://localhost:3000", true},
	} {
		name := c.name + " " + c.origin
		// Error responses must be readable by the page too.
		for _, target := range []string{"/api/system/status", "/api/nope", "/api/dashboard?start=x", "/healthz"} {
			w := srvDo(c.s, http.MethodGet, target, "Origin", c.origin)
			h := w.Header()
			if c.allowed {
				if h.Get("Access-Control-Allow-Origin") != c.origin || h.Get("Access-Control-Allow-Credentials") != "true" ||
					!slices.Contains(h.Values("Vary"), "Origin") {
					t.Errorf("%s GET %s: %d, headers %v; want the origin allowed with credentials and Vary: Origin", name, target, w.Code, h)
				}
			} else if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("%s GET %s: headers %v; want the origin not allowed", name, target, h)
			}
		}
		// Preflight on every /api path, known or not, with no credentials.
		paths := append(srvTargets("V001", "r1"), "/api/nope", "/api/v1/nope/deeper")
		for _, target := range paths {
			w := srvDo(c.s, http.MethodOptions, target, "Origin", c.origin, "Access-Control-Request-Method", "GET",
				"Access-Control-Request-Headers", "authorization,x-api-key")
			h := w.Header()
			methods := strings.Split(strings.ReplaceAll(h.Get("Access-Control-Allow-Methods"), " ", ""), ",")
			if w.Code != http.StatusOK && w.Code != http.StatusNoContent || !slices.Contains(methods, "GET") ||
				!slices.Contains(methods, "OPTIONS") || h.Get("Access-Control-Allow-Headers") != "authorization,x-api-key" {
				t.Errorf("%s OPTIONS %s: %d, headers %v", name, target, w.Code, h)
			}
			if got := h.Get("Access-Control-Allow-Origin"); (got == c.origin) != c.allowed {
				t.Errorf("%s OPTIONS %s: Access-Control-Allow-Origin %q (allowed %v)", name, target, got, c.allowed)
			}
		}
	}
	// Without an Origin header there is nothing to allow.
	w := e.get("/api/system/status")
	if h := w.Header(); h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("no Origin: headers %v", h)
	}
}

// TestAPIKeys: keys are optional; when set, every /api route requires one,
// as a bearer token or in X-API-Key, and the health, metrics and docs
// routes and CORS preflights stay open.
func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string { return testutil.WriteFile(t, dir, name, content) }
	keys, err := ReadAPIKeys(file("keys", "# haul API keys\n\nkey-one\n  key-two  \r\n# retired: key-zero\n"))
	if err != nil || !slices.Equal(keys, []string{"key-one", "key-two"}) {
		t.Fatalf("ReadAPIKeys: %q, %v", keys, err)
	}
	for _, bad := range []string{file("empty", ""), file("comments", "# none yet\n\n"), filepath.Join(dir, "missing")} {
		if got, err := ReadAPIKeys(bad); err == nil {
			t.Errorf("ReadAPIKeys(%s) = %q, want an error", filepath.Base(bad), got)
		}
	}

	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 300, Cities: 5, Seed: 12})
	targets := srvTargets(e.vehicleID(), "first")
	srvCovers(t, e.srv, targets)
	fromFile := e.server(Config{APIKeys: keys})
	fromList := e.server(Config{APIKeys: []string{"a-key", "another key"}})
	// Every server answers from its index, so that the answers compared
	// come from one path: a rounding tie may fall the other way between
	// the index and SQL (docs/api.md#13-numbers).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range []*Server{e.srv, fromFile, fromList} {
		if x := s.index.wait(ctx, e.version()); x == nil {
			t.Fatal("no index")
		}
	}

	for _, target := range targets {
		// Off by default.
		open := e.get(target)
		if open.Code != http.StatusOK {
			t.Fatalf("GET %s without keys configured: %d %s", target, open.Code, open.Body)
		}
		for _, h := range [][]string{
			nil,
			{"Authorization", "Bearer wrong"},
			{"Authorization", "Bearer key-one2"},
			{"Authorization", "Bearer key-on"},
			{"Authorization", "Basic a2V5LW9uZTo="},
			{"Authorization", "key-one"},
			{"Authorization", "Bearer"},
			{"X-API-Key", "wrong"},
			{"X-API-Key", ""},
		} {
			w := srvDo(fromFile, http.MethodGet, target, h...)
			srvWant(t, fmt.Sprintf("GET %s with %q", target, h), w, http.StatusUnauthorized, srvUnauthorized)
			if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="haul"` {
				t.Errorf("GET %s with %q: WWW-Authenticate %q", target, h, got)
			}
		}
		for _, c := range []struct {
			s *Server
			h []string
		}{
			{fromFile, []string{"Authorization", "Bearer key-one"}},
			{fromFile, []string{"Authorization", "bearer key-two"}},
			{fromFile, []string{"X-API-Key", "key-two"}},
			{fromList, []string{"Authorization", "Bearer another key"}},
			{fromList, []string{"X-API-Key", "a-key"}},
		} {
			if w := srvDo(c.s, http.MethodGet, target, c.h...); w.Code != open.Code || w.Body.String() != open.Body.String() {
				t.Errorf("GET %s with %q: %d %s, want the open server's %d", target, c.h, w.Code, w.Body, open.Code)
			}
		}
	}
	for _, target := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"} {
		if w := srvDo(fromFile, http.MethodGet, target); w.Code != http.StatusOK {
			t.Errorf("GET %s without a key: %d, want it open", target, w.Code)
		}
	}
	for _, target := range append(targets, "/api/nope") {
		if w := srvDo(fromFile, http.MethodOptions, target, "Origin", "http://localhost:3000",
			"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization"); w.Code != http.StatusOK {
			t.Errorf("preflight %s without a key: %d", target, w.Code)
		}
	}
	t.Run("unknown /api paths", func(t *testing.T) {
		for _, target := range []string{"/api/nope", "/api/v1/nope", "/api/v1/runs/first/datasets"} {
			w := srvDo(fromFile, http.MethodGet, target)
			srvWant(t, "GET "+target, w, http.StatusUnauthorized, srvUnauthorized)
		}
	})
}

// srvTag is an ETag of the server: the data version, then a hash.
var srvTag = regexp.MustCompile(`^"v([0-9]+)-[0-9a-f]{16}"$`)

// srvTagVersion is the data version an ETag names, or -1.
func srvTagVersion(tag string) int64 {
	m := srvTag.FindStringSubmatch(tag)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// TestETags: versioned answers carry an ETag made of the data version and
// the query; If-None-Match gives 304; a refresh gives new ETags.
func TestETags(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 2_000, Cities: 12, Seed: 13})
	v1 := e.version()
	targets := srvVersioned(srvTargets(e.vehicleID(), "first"))
	tags := map[string]string{}
	for _, target := range targets {
		w := e.get(target)
		tag := w.Header().Get("ETag")
		if w.Code != http.StatusOK || srvTagVersion(tag) != v1 || w.Header().Get("Cache-Control") != "no-cache" {
			t.Fatalf("GET %s: %d, ETag %q, Cache-Control %q; want an ETag of version %d",
				target, w.Code, tag, w.Header().Get("Cache-Control"), v1)
		}
		if other, ok := tags[tag]; ok {
			t.Errorf("%s and %s share ETag %s", target, other, tag)
		}
		tags[tag] = target
		if again := e.get(target); again.Header().Get("ETag") != tag || again.Body.String() != w.Body.String() {
			t.Errorf("GET %s again: ETag %q, want %q and the same body", target, again.Header().Get("ETag"), tag)
		}
		for _, inm := range []string{tag, "W/" + tag, `"v0-0000000000000000", ` + tag, `W/"x",W/` + tag, "*"} {
			got := e.get(target, "If-None-Match", inm)
			if got.Code != http.StatusNotModified || got.Body.Len() != 0 || got.Header().Get("ETag") != tag {
				t.Errorf("GET %s If-None-Match %s: %d, ETag %q, %d bytes; want 304 with the ETag",
					target, inm, got.Code, got.Header().Get("ETag"), got.Body.Len())
			}
		}
		for _, inm := range []string{`"v0-0000000000000000"`, strings.Trim(tag, `"`), `W/"other"`} {
			if got := e.get(target, "If-None-Match", inm); got.Code != http.StatusOK || got.Body.String() != w.Body.String() {
				t.Errorf("GET %s If-None-Match %s: %d, want 200 with the answer", target, inm, got.Code)
			}
		}
	}
	// The ETag names the query, not its spelling: parameter order does not
	// matter, and another server computing the same answer agrees.
	ordered := "/api/costs/overview?" + srvSpan
	tag := e.get(ordered).Header().Get("ETag")
	if got := e.get("/api/costs/overview?end=2025-12-31&start=2023-01-01").Header().Get("ETag"); got != tag {
		t.Errorf("reordered query: ETag %s, want %s", got, tag)
	}
	if got := srvDo(e.server(Config{}), http.MethodGet, ordered, "If-None-Match", tag); got.Code != http.StatusNotModified {
		t.Errorf("If-None-Match on a server that has not computed the answer yet: %d, want 304", got.Code)
	}
	// Unversioned answers and errors have none.
	for _, target := range []string{"/api/system/status", "/api/costs/overview?start=2024-01-01",
		"/api/vehicles/no-such-vehicle/details?" + srvSpan, "/api/v1/version"} {
		w := e.get(target, "If-None-Match", "*")
		if w.Header().Get("ETag") != "" || w.Code == http.StatusNotModified {
			t.Errorf("GET %s If-None-Match *: %d, ETag %q; want no ETag", target, w.Code, w.Header().Get("ETag"))
		}
	}

	// A refresh with nothing new keeps the version and the ETags.
	if res := e.refreshWith(precalc.Options{}); res.Refreshed {
		t.Fatalf("refresh with nothing loaded: %+v", res)
	}
	if got := e.get(ordered).Header().Get("ETag"); got != tag {
		t.Errorf("after an empty refresh: ETag %s, want %s", got, tag)
	}
	// New data: within versionTTL the new version is served.
	before := e.get(ordered).Body.String()
	e.load("second", datagen.Config{Shipments: 500, Cities: 12, Seed: 14, IDPrefix: "B",
		From: ansDay("2025-06-01"), To: ansDay("2025-06-30")})
	e.refresh()
	v2 := e.version()
	if v2 != v1+1 {
		t.Fatalf("version %d after a refresh of version %d", v2, v1)
	}
	var w *httptest.ResponseRecorder
	srvEventually(t, "an ETag of the new version", func() bool {
		w = e.get(ordered, "If-None-Match", tag)
		return w.Code == http.StatusOK && srvTagVersion(w.Header().Get("ETag")) == v2
	})
	if w.Body.String() == before {
		t.Errorf("answer of version %d equals version %d's", v2, v1)
	}
	if got := e.get(ordered, "If-None-Match", w.Header().Get("ETag")); got.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the new ETag: %d, want 304", got.Code)
	}
}

// TestAnswerCacheKeys: an answer is cached by the parameters its endpoint
// reads, once validated: unknown parameters, their order and equivalent
// spellings of the same values find the same answer; a parameter the
// endpoint reads, changed, does not.
func TestAnswerCacheKeys(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 300, Cities: 5, Seed: 15})
	vid := e.vehicleID()
	for _, c := range []struct {
		first string
		same  []string
		other []string
	}{{
		first: "/api/route/reliability?start=2023-01-01&end=2025-12-31",
		same: []string{
			"/api/route/reliability?start=2023-01-01&end=2025-12-31&x=1",
			"/api/route/reliability?end=2025-12-31&start=2023-1-1&_=1733400000",
			"/api/route/reliability?start=2023-01-01&end=2025-12-31&page=1&page_size=10&sort_order=DESC&sort_by=Reliability_Score&search=",
			"/api/route/reliability?start=2023-01-01&end=2025-12-31&search=%20%20",
			"/api/route/reliability?start=1999-01-01&start=2023-01-01&end=2025-12-31",
		},
		other: []string{
			"/api/route/reliability?start=2023-01-01&end=2025-12-31&page=2",
			"/api/route/reliability?start=2023-01-01&end=2025-12-31&sort_order=asc",
			"/api/route/reliability?start=2023-01-01&end=2025-12-31&search=a",
			"/api/route/reliability?start=2023-01-02&end=2025-12-31",
		},
	}, {
		first: "/api/dashboard?" + srvSpan + "&interval_type=week",
		same:  []string{"/api/dashboard?" + srvSpan + "&interval_type=week&periods_back=1&utm_source=x"},
		other: []string{"/api/dashboard?" + srvSpan + "&interval_type=week&periods_back=2"},
	}, {
		first: "/api/shipments/routes",
		same:  []string{"/api/shipments/routes?start=2024-01-01&end=2024-01-31&sort_by=total_trips"},
		other: []string{"/api/shipments/routes?sort_by=origin"},
	}, {
		first: "/api/route/top-performing?" + srvSpan,
		same:  []string{"/api/route/top-performing?" + srvSpan + "&limit=10&page=3"},
		other: []string{"/api/route/top-performing?" + srvSpan + "&limit=3"},
	}, {
		first: "/api/vehicles/" + vid + "/details?" + srvSpan,
		same:  []string{"/api/vehicles/" + vid + "/details?" + srvSpan + "&page_size=1000"},
		other: []string{"/api/vehicles/" + vid + "/details?start=2024-01-01&end=2025-12-31"},
	}} {
		want := e.get(c.first)
		if want.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", c.first, want.Code, want.Body)
		}
		check := func(target string, hit bool) {
			t.Helper()
			before := srvCacheRequests(t, e.srv)
			w := e.get(target)
			after := srvCacheRequests(t, e.srv)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
			}
			if got := after["hit"] - before["hit"]; got != map[bool]float64{true: 1, false: 0}[hit] {
				t.Errorf("GET %s after %s: %v cache hits, want hit=%t", target, c.first, got, hit)
			}
			if hit && (w.Body.String() != want.Body.String() || w.Header().Get("ETag") != want.Header().Get("ETag")) {
				t.Errorf("GET %s: answer or ETag differs from %s's", target, c.first)
			}
		}
		for _, target := range c.same {
			check(target, true)
		}
		for _, target := range c.other {
			check(target, false)
		}
	}
}

// TestIndexAnswers: the server builds an index of routes and vehicles for
// each new data version in the background, answering from SQL meanwhile,
// and the answers it then computes from the index equal those from SQL.
func TestIndexAnswers(t *testing.T) {
	e := newSrvEnv(t, Config{NoAnswerCache: true})
	sql := e.server(Config{NoAnswerCache: true, NoIndex: true})
	all, month := "start=1900-01-01&end=2199-12-31", "start=2025-07-01&end=2025-07-31"
	targets := []string{
		"/api/shipments/analytics?" + all,
		"/api/shipments/analytics?" + month,
		"/api/route/reliability?" + all + "&page_size=100&sort_by=on_time_delivery_rate",
		"/api/route/reliability?" + month + "&page=2",
		"/api/route/cost-value?" + all + "&page_size=100&sort_by=value_category",
		"/api/route/optimization?" + month + "&sort_by=origin&sort_order=asc",
		"/api/route/top-performing?" + all + "&limit=100",
		"/api/costs/overview?" + month,
		"/api/costs/overview?" + all,
		"/api/vehicles/metrics?" + month,
		"/api/vehicles/metrics?" + all,
		"/api/vehicles/metrics?start=2025-07-04&end=2025-07-04",
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	check := func(v int64) {
		t.Helper()
		// The first answer of a version starts the build.
		e.get(targets[0])
		if x := e.srv.index.wait(ctx, v); x == nil || x.Version() != v {
			t.Fatalf("index of version %d: %v", v, x)
		}
		for _, target := range targets {
			got, want := e.get(target), srvDo(sql, http.MethodGet, target)
			if got.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", target, got.Code, got.Body)
			}
			// Sums added in another order: ties of the rounding may fall
			// either way (docs/api.md#13-numbers).
			ansMatch(t, target, json.RawMessage(got.Body.Bytes()), json.RawMessage(want.Body.Bytes()))
		}
		if m := srvSample(srvMetrics(t, e.srv), "haul_index_version"); m.GetGauge().GetValue() != float64(v) {
			t.Errorf("haul_index_version %v, want %d", m.GetGauge().GetValue(), v)
		}
	}
	e.load("first", datagen.Config{Shipments: 4_000, Cities: 25, Seed: 31})
	e.refresh()
	check(e.version())
	e.load("second", datagen.Config{Shipments: 1_000, Cities: 25, Seed: 32, IDPrefix: "B",
		From: ansDay("2025-06-01"), To: ansDay("2026-02-28")})
	e.refresh()
	check(e.version())
}

// srvCacheRequests reads the answer cache's hits and misses from /metrics.
func srvCacheRequests(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	mf := srvMetrics(t, s)
	out := map[string]float64{}
	for _, result := range []string{"hit", "miss"} {
		if m := srvSample(mf, "haul_answer_cache_requests_total", "result", result); m != nil {
			out[result] = m.GetCounter().GetValue()
		}
	}
	return out
}

// srvMetrics scrapes s's /metrics.
func srvMetrics(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	w := srvDo(s, http.MethodGet, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", w.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// srvSample is the metric of family name whose labels include labels
// (name, value pairs), or nil.
func srvSample(mf map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := mf[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && have[labels[i]] == labels[i+1]
		}
		if ok {
			return m
		}
	}
	return nil
}

// TestMetrics: requests by route and status with latency histograms, the
// database pool and the data version.
func TestMetrics(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 300, Cities: 5, Seed: 15})
	vid := e.vehicleID()
	dash := "/api/dashboard?" + srvSpan + "&interval_type=week"
	tag := e.get(dash).Header().Get("ETag")
	e.get(dash)
	e.get(dash, "If-None-Match", tag)
	e.get("/api/dashboard?start=2024-01-01")
	e.get("/api/vehicles/" + vid + "/details?" + srvSpan)
	e.get("/api/vehicles/no-such-vehicle/details?" + srvSpan)
	e.get("/no/such/path")
	mf := srvMetrics(t, e.srv)

	const requests = "haul_http_requests_total"
	for _, c := range []struct {
		route, status string
		n             float64
	}{
		{"/api/dashboard", "200", 2},
		{"/api/dashboard", "304", 1},
		{"/api/dashboard", "400", 1},
		{"/api/vehicles/:vehicle_id/details", "200", 1},
		{"/api/vehicles/:vehicle_id/details", "404", 1},
		{"unmatched", "404", 1},
	} {
		m := srvSample(mf, requests, "route", c.route, "status", c.status)
		if m == nil || m.GetCounter().GetValue() != c.n {
			t.Errorf("%s{route=%q,status=%q}: %v, want %v", requests, c.route, c.status, m, c.n)
		}
	}
	for _, m := range mf[requests].GetMetric() {
		for _, l := range m.GetLabel() {
			if strings.Contains(l.GetValue(), vid) || strings.Contains(l.GetValue(), "no-such") {
				t.Errorf("%s has a label from a request's path: %v", requests, m)
			}
		}
	}
	const latency = "haul_http_request_duration_seconds"
	if f := mf[latency]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("%s: type %v, want a histogram", latency, f.GetType())
	}
	if h := srvSample(mf, latency, "route", "/api/dashboard").GetHistogram(); h.GetSampleCount() != 4 || len(h.GetBucket()) < 5 {
		t.Errorf("%s{route=/api/dashboard}: %v, want 4 requests in buckets", latency, h)
	}
	for _, name := range []string{"haul_db_pool_connections", "haul_db_pool_idle_connections",
		"haul_db_pool_acquired_connections", "haul_db_pool_max_connections",
		"haul_db_pool_acquire_wait_seconds_total", "haul_db_pool_acquires_total"} {
		if srvSample(mf, name) == nil {
			t.Errorf("no %s", name)
		}
	}
	if got := srvSample(mf, "haul_db_pool_max_connections").GetGauge().GetValue(); got != float64(e.Pool.Config().MaxConns) {
		t.Errorf("haul_db_pool_max_connections %v, want %d", got, e.Pool.Config().MaxConns)
	}
	if got := srvSample(mf, "haul_db_pool_acquires_total").GetCounter().GetValue(); got < 1 {
		t.Errorf("haul_db_pool_acquires_total %v", got)
	}
	if got := srvSample(mf, "haul_data_version").GetGauge().GetValue(); got != float64(e.version()) {
		t.Errorf("haul_data_version %v, want %d", got, e.version())
	}
	if got := srvSample(mf, "haul_aggregates_version").GetGauge().GetValue(); e.version() == 0 || got != float64(e.version()) {
		t.Errorf("haul_aggregates_version %v, want %d", got, e.version())
	}
	age := e.scalar(`SELECT extract(epoch FROM now() - refreshed_at)::float8 FROM precalc_state`).(float64)
	if got := srvSample(mf, "haul_aggregates_age_seconds").GetGauge().GetValue(); got <= 0 || got > age+60 {
		t.Errorf("haul_aggregates_age_seconds %v, want the served version's age, about %.1f", got, age)
	}
}

// TestReadyz: ready when the database answers and has the expected schema.
func TestReadyz(t *testing.T) {
	e := newSrvEnv(t, Config{})
	_, latest, err := db.SchemaVersion(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	s := e.server(Config{SchemaVersion: latest})
	ready := `{"status":"ok"}`
	srvWant(t, "/readyz, schema current", srvDo(s, http.MethodGet, "/readyz"), http.StatusOK, ready)
	srvWant(t, "/healthz", srvDo(s, http.MethodGet, "/healthz"), http.StatusOK, ready)

	e.exec(`DELETE FROM haul_schema_migrations WHERE version_id = (SELECT max(version_id) FROM haul_schema_migrations)`)
	w := srvDo(s, http.MethodGet, "/readyz")
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusServiceUnavailable || err != nil ||
		!strings.HasPrefix(got["detail"], "not ready: ") || !strings.Contains(got["detail"], strconv.FormatInt(latest, 10)) {
		t.Errorf("/readyz, schema behind: %d %s", w.Code, w.Body)
	}
	srvWant(t, "/healthz, schema behind", srvDo(s, http.MethodGet, "/healthz"), http.StatusOK, ready)
	srvWant(t, "/readyz, older binary", srvDo(e.server(Config{SchemaVersion: latest - 1}), http.MethodGet, "/readyz"),
		http.StatusOK, ready)

	noSchema := e.server(Config{Pool: dbtest.Pool(t, dbtest.NewEmpty(t)), SchemaVersion: latest})
	if w := srvDo(noSchema, http.MethodGet, "/readyz"); w.Code != http.StatusServiceUnavailable ||
		!strings.Contains(w.Body.String(), "no schema") {
		t.Errorf("/readyz, database without schema: %d %s", w.Code, w.Body)
	}
	pool := dbtest.Pool(t, e.url)
	closed := e.server(Config{Pool: pool, SchemaVersion: latest})
	pool.Close()
	if w := srvDo(closed, http.MethodGet, "/readyz"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz, database unreachable: %d %s", w.Code, w.Body)
	}
	srvWant(t, "/healthz, database unreachable", srvDo(closed, http.MethodGet, "/healthz"), http.StatusOK, ready)
}

// TestRuns: /api/v1/runs pages the ingestion runs, newest first;
// /api/v1/runs/{id} shows one with what each dataset did, compared with
// datagen's answer key and ingest's own report.
func TestRuns(t *testing.T) {
	e := newSrvEnv(t, Config{})
	ctx := context.Background()
	dir := filepath.Join(e.Dir, "faulty")
	key, err := datagen.Generate(ctx, dir, datagen.Config{Shipments: 2_000, Cities: 10, FaultRate: 0.05, Seed: 16})
	if err != nil {
		t.Fatal(err)
	}
	faulty, err := e.ingest("faulty", srvInputs(dir))
	if err != nil {
		t.Fatalf("ingest faulty: %v", err)
	}
	e.load("clean", datagen.Config{Shipments: 200, Cities: 5, Seed: 17, IDPrefix: "C",
		From: ansDay("2025-01-01"), To: ansDay("2025-01-31")})
	// A truncated file fails its run with a file-level error (docs/data.md#92-file-level-cases).
	content, err := os.ReadFile(filepath.Join(dir, "vehicles.json"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(e.Dir, "truncated-vehicles.json")
	if err := os.WriteFile(cut, content[:len(content)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	broken, err := e.ingest("broken", map[ingest.Dataset][]string{ingest.Vehicles: {cut}})
	if err == nil || broken == nil || broken.Error == nil || broken.Error.Offset == nil {
		t.Fatalf("truncated file: report %+v, error %v; want a failed run with a file error", broken, err)
	}
	e.exec(`INSERT INTO ingest_runs (run_id) VALUES ('live')`)

	runs := func(query string) (RunPage, string) {
		t.Helper()
		w := e.get("/api/v1/runs" + query)
		return srvDecode[RunPage](t, "runs"+query, w), w.Body.String()
	}
	ids := func(p RunPage) []string {
		out := []string{}
		for _, r := range p.Data {
			out = append(out, r.RunID)
		}
		return out
	}
	for _, c := range []struct {
		query      string
		page, size int
		want       []string
	}{
		{"", 1, 10, []string{"live", "broken", "clean", "faulty"}},
		{"?page_size=3", 1, 3, []string{"live", "broken", "clean"}},
		{"?page=2&page_size=3", 2, 3, []string{"faulty"}},
		{"?page=3&page_size=3", 3, 3, []string{}},
		{"?page=1000000000&page_size=100", 1_000_000_000, 100, []string{}},
	} {
		p, body := runs(c.query)
		if !slices.Equal(ids(p), c.want) || p.Total != 4 || p.Page != c.page || p.PageSize != c.size {
			t.Errorf("runs%s: %s, total %d, page %d, size %d; want %q, total 4", c.query, ids(p), p.Total, p.Page, p.PageSize, c.want)
		}
		if len(c.want) == 0 && !strings.Contains(body, `"data":[]`) {
			t.Errorf("runs%s: %s, want data []", c.query, body)
		}
	}
	for q, detail := range map[string]string{
		"?page=0":          "page: Input should be greater than or equal to 1",
		"?page=x":          "page: Input should be a valid integer, unable to parse string as an integer",
		"?page_size=101":   "page_size: Input should be less than or equal to 100",
		"?page_size=-1":    "page_size: Input should be greater than or equal to 1",
		"?page=1&page=1e3": "page: Input should be a valid integer, unable to parse string as an integer",
	} {
		srvWant(t, "runs"+q, e.get("/api/v1/runs"+q), http.StatusBadRequest, `{"detail":"`+detail+`"}`)
	}

	run := func(id string) RunDetail {
		t.Helper()
		return srvDecode[RunDetail](t, "run "+id, e.get("/api/v1/runs/"+id))
	}
	checkTimes := func(r RunSummary) {
		t.Helper()
		if r.FinishedAt == nil || r.DurationSeconds == nil || r.FinishedAt.Before(r.StartedAt) ||
			math.Abs(*r.DurationSeconds-r.FinishedAt.Sub(r.StartedAt).Seconds()) > 1e-6 {
			t.Errorf("run %s timings: started %v, finished %v, %v s", r.RunID, r.StartedAt, r.FinishedAt, r.DurationSeconds)
		}
	}

	got := run("faulty")
	checkTimes(got.RunSummary)
	if got.Status != "succeeded" || got.Error != nil || got.PrecalcVersion != nil ||
		got.DaysTouched != faulty.DaysTouched || got.DaysTouched == 0 || len(got.Datasets) != len(datagen.Datasets) {
		t.Fatalf("run faulty: %+v; ingest reported %d days touched", got, faulty.DaysTouched)
	}
	var rejected int64
	for i, ds := range datagen.Datasets {
		d, k, rep := got.Datasets[i], key.Datasets[ds], faulty.Datasets[i]
		rejected += d.Rejected
		if d.Dataset != string(ds) || d.Status != "succeeded" || d.Read != k.Read || d.Loaded != k.Loaded ||
			d.Duplicates != k.Duplicates || d.Rejected != k.Rejected || !maps.Equal(d.RejectedByReason, k.RejectedByReason) {
			t.Errorf("run faulty, %s: %+v\nanswer key: %+v", ds, d, k)
		}
		if !slices.Equal(d.Files, rep.Files) || d.RejectsFile == nil || *d.RejectsFile != rep.RejectsFile ||
			len(d.Warnings) != len(rep.Warnings) || d.Error != nil {
			t.Errorf("run faulty, %s: %+v\ningest reported: %+v", ds, d, rep)
		}
	}
	if rejected == 0 {
		t.Error("run faulty rejected nothing: the test plants faults")
	}

	got = run("broken")
	checkTimes(got.RunSummary)
	want := broken.Error
	if got.Status != "failed" || got.Error == nil || got.Error.Message != want.Message || got.Error.File != cut ||
		got.Error.Line != want.Line || got.Error.Line < 1 || got.Error.Offset == nil || *got.Error.Offset != *want.Offset {
		t.Errorf("run broken: %+v, error %+v; ingest reported %+v", got.RunSummary, got.Error, want)
	}
	if len(got.Datasets) != 1 || got.Datasets[0].Status != "failed" || got.Datasets[0].Error == nil ||
		got.Datasets[0].Error.File != cut {
		t.Errorf("run broken, datasets: %+v", got.Datasets)
	}

	got = run("live")
	if got.Status != "running" || got.FinishedAt != nil || got.DurationSeconds != nil || got.Error != nil ||
		got.DaysTouched != 0 || got.Datasets == nil || len(got.Datasets) != 0 {
		t.Errorf("run live: %+v", got)
	}
	srvWant(t, "unknown run", e.get("/api/v1/runs/no-such-run"), http.StatusNotFound, `{"detail":"Run not found"}`)

	// The data version: stale until a refresh takes the loaded runs in.
	v := srvDecode[DataVersion](t, "version", e.get("/api/v1/version"))
	if v.Version != 0 || !v.Stale || v.RefreshedAt != nil || v.Refreshing {
		t.Errorf("before a refresh: %+v", v)
	}
	e.refresh()
	v = srvDecode[DataVersion](t, "version", e.get("/api/v1/version"))
	if v.Version != 1 || v.Stale || v.RefreshedAt == nil || v.Refreshing || v.LastError != nil {
		t.Errorf("after a refresh: %+v", v)
	}
	p, _ := runs("")
	for _, r := range p.Data {
		included := r.RunID == "faulty" || r.RunID == "clean"
		if (r.PrecalcVersion != nil && *r.PrecalcVersion == 1) != included || (r.PrecalcVersion == nil) == included {
			t.Errorf("run %s (%s): precalc_version %v", r.RunID, r.Status, r.PrecalcVersion)
		}
	}
}

// TestInternalErrorsDoNotLeak: a failure answers 500 with no details
// (D18); the details go to the log.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Run("rollup table missing", func(t *testing.T) {
		e := newLoadedSrvEnv(t, datagen.Config{Shipments: 300, Cities: 5, Seed: 18})
		var log testutil.Logs
		e.srv = e.server(Config{Log: log.Logger()})
		targets := srvTargets(e.vehicleID(), "first")
		e.exec(`DROP TABLE agg_routes`)
		for _, target := range targets {
			w := e.get(target)
			if strings.HasPrefix(target, "/api/v1/") {
				if w.Code != http.StatusOK { // they do not read the rollups
					t.Errorf("GET %s: %d %s", target, w.Code, w.Body)
				}
				continue
			}
			srvWant(t, "GET "+target, w, http.StatusInternalServerError, srvInternal)
		}
		if !log.Contains(`relation \"agg_routes\" does not exist`) {
			t.Errorf("the cause is not logged: %q", log.Lines())
		}
	})
	t.Run("database closed", func(t *testing.T) {
		e := newSrvEnv(t, Config{})
		pool := dbtest.Pool(t, e.url)
		var log testutil.Logs
		s := e.server(Config{Pool: pool, Log: log.Logger()})
		pool.Close()
		for _, target := range srvTargets("V001", "r1") {
			srvWant(t, "GET "+target, srvDo(s, http.MethodGet, target), http.StatusInternalServerError, srvInternal)
		}
		if !log.Contains("closed pool") {
			t.Errorf("the cause is not logged: %q", log.Lines())
		}
		for _, target := range []string{"/healthz", "/metrics", "/openapi.json", "/docs"} {
			if w := srvDo(s, http.MethodGet, target); w.Code != http.StatusOK {
				t.Errorf("GET %s with the database closed: %d", target, w.Code)
			}
		}
	})
}

// TestServeShutsDownGracefully: once ctx is cancelled Serve takes no new
// connection but finishes the request in flight, then returns nil. Headers
// over the limit are refused.
func TestServeShutsDownGracefully(t *testing.T) {
	e := newSrvEnv(t, Config{})
	ctx := context.Background()
	// A transaction holding agg_totals keeps an answer waiting in rollup.Begin.
	blocker, err := e.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback(ctx) }()
	if _, err := blocker.Exec(ctx, `LOCK TABLE agg_totals IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(serveCtx, l) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	get := func(target string, header ...string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+target, nil)
		if err != nil {
			return 0, "", err
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if code, _, err := get("/healthz"); code != http.StatusOK || err != nil {
		t.Fatalf("GET /healthz: %d, %v", code, err)
	}
	if code, _, err := get("/healthz", "X-Padding", strings.Repeat("x", 80<<10)); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("80 KiB of headers: %d, %v; want 431", code, err)
	}

	type reply struct {
		code int
		body string
		err  error
	}
	slow := make(chan reply, 1)
	go func() {
		code, body, err := get("/api/costs/overview?start=2024-01-01&end=2024-01-31")
		slow <- reply{code, body, err}
	}()
	srvEventually(t, "the request to wait for agg_totals", func() bool {
		return e.scalar(`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = 'agg_totals'::regclass AND NOT granted)`).(bool)
	})
	cancel()
	srvEventually(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	})
	select {
	case r := <-slow:
		t.Fatalf("the request ended before its answer could be computed: %+v", r)
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	default:
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var r reply
	select {
	case r = <-slow:
	case <-time.After(30 * time.Second):
		t.Fatal("the request in flight never finished")
	}
	want := `{"total_cost":0,"avg_cost_per_shipment":0,"total_shipments":0,"cost_per_km":0,"cost_per_kg":0,"vehicles_used":0,"prev_total_cost":0,"prev_avg_cost":0,"cost_growth_percentage":0,"avg_cost_growth_percentage":0,"top_cost_routes":[]}`
	if r.err != nil || r.code != http.StatusOK || r.body != want {
		t.Errorf("request in flight at shutdown: %d %s, %v", r.code, r.body, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after the last request")
	}
}

// srvResponse is what a client got, keyed for counting.
type srvResponse struct {
	target  string
	version int64
	status  int
	body    string
}

// TestRefreshWhileServing: while a second batch is loaded and both an
// incremental refresh and a full rebuild run, clients asking without pause
// get, every time, exactly the answer of one data version: the one their
// ETag names (docs/api.md#4-aggregate-refresh, D24).
func TestRefreshWhileServing(t *testing.T) {
	start := time.Now()
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 10_000, Cities: 25, Seed: 19})
	// The server has its own pool, larger than the clients, so that loads
	// and refreshes never wait for the clients' connections.
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "10")
	u.RawQuery = q.Encode()
	// Every request is computed: the answer cache is off. Answers come
	// from SQL only: from the index, which the server builds per version
	// while SQL answers, sums come out in another order and a rounding tie
	// may fall the other way (TestIndexAnswers compares the two paths).
	s := e.server(Config{Pool: dbtest.Pool(t, u.String()), NoAnswerCache: true, NoIndex: true})

	all, month := "start=1900-01-01&end=2199-12-31", "start=2025-07-01&end=2025-07-31"
	targets := []string{
		"/api/dashboard?" + month + "&interval_type=month",
		"/api/dashboard?" + all + "&interval_type=year",
		"/api/shipments/analytics?" + all,
		"/api/shipments/analytics?" + month,
		"/api/shipments/routes?page_size=50&sort_by=total_cost",
		"/api/vehicles/metrics?" + month,
		"/api/vehicles/" + e.vehicleID() + "/details?" + all,
		"/api/route/reliability?" + all + "&page_size=50",
		"/api/route/cost-value?" + month,
		"/api/route/optimization?" + all + "&sort_by=origin&sort_order=asc",
		"/api/route/top-performing?" + all + "&limit=20",
		"/api/costs/overview?" + all,
		"/api/costs/overview?" + month,
	}
	fetch := func(target string) srvResponse {
		w := srvDo(s, http.MethodGet, target)
		return srvResponse{target: target, version: srvTagVersion(w.Header().Get("ETag")), status: w.Code, body: w.Body.String()}
	}
	// answers holds each version's answers, asked afresh while it was the
	// newest and no refresh ran.
	answers := map[int64]map[string]string{}
	record := func(v int64) {
		t.Helper()
		answers[v] = map[string]string{}
		for _, target := range targets {
			r := fetch(target)
			if r.status != http.StatusOK || r.version != v {
				t.Fatalf("%s: %d, version %d, want version %d: %.300s", target, r.status, r.version, v, r.body)
			}
			answers[v][target] = r.body
		}
	}
	v1 := e.version()
	record(v1)

	var mu sync.Mutex
	seen := map[srvResponse]int{}
	perVersion := map[int64]int{}
	loopCtx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; loopCtx.Err() == nil; i++ {
				r := fetch(targets[(w*5+i)%len(targets)])
				mu.Lock()
				seen[r]++
				perVersion[r.version]++
				mu.Unlock()
			}
		})
	}
	served := func(v int64, n int) {
		t.Helper()
		srvEventually(t, fmt.Sprintf("%d answers of version %d", n, v), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return perVersion[v] >= n
		})
	}

	// during counts the answers given while fn ran.
	during := func(fn func()) int {
		total := func() int {
			mu.Lock()
			defer mu.Unlock()
			return perVersion[v1] + perVersion[v1+1] + perVersion[v1+2]
		}
		before := total()
		fn()
		return total() - before
	}

	served(v1, 2*len(targets))
	loading := during(func() {
		e.load("second", datagen.Config{Shipments: 3_000, Cities: 25, Seed: 20, IDPrefix: "B", Vehicles: 30,
			From: ansDay("2025-06-01"), To: ansDay("2025-12-31")})
	})
	var res precalc.Result
	incremental := during(func() { res = e.refreshWith(precalc.Options{}) })
	v2 := res.Version
	if !res.Refreshed || res.Full || v2 != v1+1 {
		t.Fatalf("incremental refresh: %+v, from version %d", res, v1)
	}
	record(v2)
	served(v2, len(targets))
	full := during(func() { res = e.refreshWith(precalc.Options{Full: true}) })
	v3 := res.Version
	if !res.Refreshed || !res.Full || v3 != v2+1 {
		t.Fatalf("full rebuild: %+v, from version %d", res, v2)
	}
	record(v3)
	served(v3, 2*len(targets))
	stop()
	wg.Wait()
	t.Logf("answers given while loading: %d, during the incremental refresh: %d, during the full rebuild: %d",
		loading, incremental, full)
	if loading == 0 || full == 0 {
		t.Error("no answer was given while the second batch loaded or the rebuild ran: the test proves nothing")
	}

	n := 0
	for r, count := range seen {
		n += count
		want, ok := answers[r.version]
		switch {
		case r.status != http.StatusOK:
			t.Errorf("%s: %d %.300s (%d times)", r.target, r.status, r.body, count)
		case !ok:
			t.Errorf("%s: version %d is none the test made (%d times)", r.target, r.version, count)
		case r.body != want[r.target]:
			t.Errorf("%s: answer differs from version %d's (%d times)\n got %.300s\nwant %.300s",
				r.target, r.version, count, r.body, want[r.target])
		}
	}
	// The check tells the versions apart: the second batch changed these.
	for _, target := range []string{"/api/shipments/analytics?" + all, "/api/costs/overview?" + all, "/api/route/reliability?" + all + "&page_size=50"} {
		if answers[v1][target] == answers[v2][target] {
			t.Errorf("%s: versions %d and %d answer alike", target, v1, v2)
		}
	}
	for _, target := range targets {
		if answers[v2][target] != answers[v3][target] {
			t.Logf("%s: the full rebuild answers differently from the incremental refresh of the same data", target)
		}
	}
	t.Logf("%d responses (version %d: %d, %d: %d, %d: %d), %d distinct, in %v", n, v1, perVersion[v1], v2, perVersion[v2],
		v3, perVersion[v3], len(seen), time.Since(start).Round(time.Millisecond))
}
