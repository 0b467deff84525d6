package apiserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/testutil"
)

// closedPoolServer is a server whose pool is closed: a request that reaches
// the database answers 500, so an answer other than 500 was given without it.
func closedPoolServer(t *testing.T) *Server {
	t.Helper()
	e := newSrvEnv(t, Config{})
	pool := dbtest.Pool(t, e.url)
	s := e.server(Config{Pool: pool})
	pool.Close()
	return s
}

// TestPathIDsThatCannotBeStored: an id PostgreSQL could not hold (not UTF-8,
// NUL, too long) names nothing: 404, without asking the database (which
// would refuse the bytes and answer 500).
func TestPathIDsThatCannotBeStored(t *testing.T) {
	s := closedPoolServer(t)
	const window = "?start=2024-01-01&end=2024-03-31"
	for _, id := range []string{"%00", "%ff", "%c3", "V%00001", "%ed%a0%80", strings.Repeat("V", 65)} {
		srvWant(t, "vehicle "+id, srvDo(s, http.MethodGet, "/api/vehicles/"+id+"/details"+window),
			http.StatusNotFound, `{"detail":"Vehicle not found"}`)
	}
	// The query is still validated first (docs/api.md#2-endpoint-index).
	srvWant(t, "vehicle %00 without a window", srvDo(s, http.MethodGet, "/api/vehicles/%00/details"),
		http.StatusBadRequest, `{"detail":"start: Field required"}`)
	for _, id := range []string{"%00", "%c3", "%ff", "r%001", strings.Repeat("r", 129)} {
		srvWant(t, "run "+id, srvDo(s, http.MethodGet, "/api/v1/runs/"+id), http.StatusNotFound, `{"detail":"Run not found"}`)
	}
}

// TestQueryPairsAreNeverDropped: ';' belongs to the value and a bad escape is
// kept literally, as the reference read queries; Go's parser would drop the
// pair and answer as if the parameter had not been sent.
func TestQueryPairsAreNeverDropped(t *testing.T) {
	got := queryOf(httptest.NewRequest(http.MethodGet, "/?a=1;b=2&c=%zz&d=%41+x%2&&e&f=%3B&a=3", nil))
	want := url.Values{"a": {"1;b=2", "3"}, "c": {"%zz"}, "d": {"A x%2"}, "e": {""}, "f": {";"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("queryOf: %q, want %q", got, want)
	}
	if p, perr := parseList(queryOf(httptest.NewRequest(http.MethodGet, "/?search=a;b", nil)), shipmentRoutesSort); perr != nil || p.Search != "a;b" {
		t.Errorf("search=a;b: %+v, %v", p, perr)
	}

	s := closedPoolServer(t)
	const span = "start=2021-01-01&end=2021-12-31"
	sortBy := `{"detail":"sort_by: Input should be 'origin', 'destination', 'total_deliveries', 'avg_delivery_time', 'delivery_time_variation', 'reliability_score' or 'on_time_delivery_rate'"}`
	for _, c := range []struct{ target, body string }{
		{"/api/route/reliability?" + span + "&sort_by=origin;drop%20table%20shipments", sortBy},
		{"/api/route/reliability?" + span + "&sort_by=origin%zz", sortBy},
		{"/api/route/reliability?" + span + "&sort_order=asc;", `{"detail":"sort_order: Input should be 'asc' or 'desc'"}`},
		{"/api/route/reliability?start=2021-01-01;&end=2021-12-31", `{"detail":"start: Value error, Date must be in YYYY-MM-DD format"}`},
		{"/api/route/top-performing?" + span + "&limit=5;6", `{"detail":"limit: ` + msgNotInteger + `"}`},
		{"/api/v1/runs?page=1;page_size=5", `{"detail":"page: ` + msgNotInteger + `"}`},
	} {
		srvWant(t, c.target, srvDo(s, http.MethodGet, c.target), http.StatusBadRequest, c.body)
	}
}

// rawExchange sends raw bytes to addr and reads the response's status,
// headers and body.
func rawExchange(t *testing.T, addr, request string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, resp)
}

// readResponse returns resp's status, headers and body, and closes it.
func readResponse(t *testing.T, resp *http.Response) (int, http.Header, string) {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// serveOnLoopback serves s on a loopback port until the test ends.
func serveOnLoopback(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Background(t, "Serve", func(ctx context.Context) error { return s.Serve(ctx, l) })
	return l.Addr().String()
}

// TestRefusalsAreJSON: requests net/http refuses before any handler runs
// get the API's error shape too.
func TestRefusalsAreJSON(t *testing.T) {
	addr := serveOnLoopback(t, closedPoolServer(t))
	for _, c := range []struct {
		what, request string
		status        int
		body          string
	}{
		{"URL over 64 KiB", "GET /api/dashboard?x=" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\nHost: h\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, `{"detail":"Request header fields too large"}`},
		{"malformed Content-Length", "GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
			http.StatusBadRequest, `{"detail":"Bad request"}`},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n",
			http.StatusBadRequest, `{"detail":"Bad request: missing required Host header"}`},
		{"unknown transfer encoding", "GET /healthz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: zip\r\n\r\n",
			http.StatusNotImplemented, `{"detail":"Not implemented"}`},
	} {
		status, header, body := rawExchange(t, addr, c.request)
		if status != c.status || body != c.body || header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: %d %s %q, want %d %s", c.what, status, header.Get("Content-Type"), body, c.status, c.body)
		}
	}
	// A handler's answer passes through untouched.
	status, _, body := rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if status != http.StatusOK || body != `{"status":"ok"}` {
		t.Errorf("GET /healthz: %d %q", status, body)
	}
}

// TestHeadAnswersAsGet: HEAD on every GET route has the GET's status and
// headers, and no body.
func TestHeadAnswersAsGet(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 300, Cities: 5, Seed: 21})
	targets := append(srvTargets(e.vehicleID(), "first"), "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
		"/api/vehicles/nobody/details?"+srvSpan, "/api/dashboard", "/api/nope")
	srvCovers(t, e.srv, targets)
	ts := httptest.NewServer(e.srv.Handler())
	defer ts.Close()
	do := func(method, target string) (int, http.Header, string) {
		req, err := http.NewRequest(method, ts.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readResponse(t, resp)
	}
	for _, target := range targets {
		getStatus, getHeader, _ := do(http.MethodGet, target)
		headStatus, headHeader, body := do(http.MethodHead, target)
		if headStatus != getStatus || body != "" {
			t.Errorf("HEAD %s: %d with %d bytes, want GET's %d and none", target, headStatus, len(body), getStatus)
		}
		for _, h := range []string{"Content-Type", "ETag", "Cache-Control", "Content-Length"} {
			if headHeader.Get(h) != getHeader.Get(h) && (h != "Content-Length" || target != "/metrics") {
				t.Errorf("HEAD %s: %s %q, GET's %q", target, h, headHeader.Get(h), getHeader.Get(h))
			}
		}
	}
	if w := srvDo(e.srv, http.MethodOptions, "/api/dashboard", "Origin", "http://localhost:3000",
		"Access-Control-Request-Method", "HEAD"); !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "HEAD") {
		t.Errorf("preflight: Access-Control-Allow-Methods %q", w.Header().Get("Access-Control-Allow-Methods"))
	}
}

// TestEitherKeyHeaderAuthenticates: with keys in both headers, one accepted
// key is enough, whichever header holds it.
func TestEitherKeyHeaderAuthenticates(t *testing.T) {
	e := newSrvEnv(t, Config{})
	s := e.server(Config{APIKeys: []string{"right"}})
	const target = "/api/v1/version"
	for _, h := range [][]string{
		{"X-API-Key", "wrong", "Authorization", "Bearer right"},
		{"X-API-Key", "right", "Authorization", "Bearer wrong"},
		{"X-API-Key", "right", "Authorization", "Basic cmlnaHQ6"},
	} {
		if w := srvDo(s, http.MethodGet, target, h...); w.Code != http.StatusOK {
			t.Errorf("GET %s with %q: %d %s", target, h, w.Code, w.Body)
		}
	}
	for _, h := range [][]string{
		{"X-API-Key", "wrong", "Authorization", "Bearer wrong"},
		{"X-API-Key", "", "Authorization", "Bearer "},
		{"X-API-Key", "wrong", "Authorization", "right"},
	} {
		srvWant(t, fmt.Sprintf("GET %s with %q", target, h), srvDo(s, http.MethodGet, target, h...), http.StatusUnauthorized, srvUnauthorized)
	}
}

// tcpProxy forwards loopback connections to a PostgreSQL server until cut,
// which stands for the database going away: open connections are reset and
// new ones refused.
type tcpProxy struct {
	l     net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, to string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l, to: to}
	p.wg.Go(p.accept)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
		p.wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
	}
}

func (p *tcpProxy) cut() {
	_ = p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestDatabaseDown: while PostgreSQL cannot be reached, answers the server
// holds of the newest version are still served, and the rest is 503 with
// Retry-After, not 500.
func TestDatabaseDown(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 300, Cities: 5, Seed: 22})
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	proxied := *u
	proxied.Host = proxy.l.Addr().String()
	var log testutil.Logs
	s := e.server(Config{Pool: dbtest.Pool(t, proxied.String()), Log: log.Logger()})

	held := "/api/costs/overview?" + srvSpan
	before := srvDo(s, http.MethodGet, held)
	if before.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", held, before.Code, before.Body)
	}
	proxy.cut()
	time.Sleep(2 * versionTTL) // the version must be read again, and fails
	if w := srvDo(s, http.MethodGet, held); w.Code != http.StatusOK || w.Body.String() != before.Body.String() ||
		w.Header().Get("ETag") != before.Header().Get("ETag") {
		t.Errorf("GET %s held, database down: %d %s", held, w.Code, w.Body)
	}
	for _, target := range append(srvTargets(e.vehicleID(), "first"), "/api/costs/overview?start=2024-01-01&end=2024-01-31") {
		if target == held {
			continue
		}
		w := srvDo(s, http.MethodGet, target)
		srvWant(t, "GET "+target+", database down", w, http.StatusServiceUnavailable, `{"detail":"Database unavailable"}`)
		if got := w.Header().Get("Retry-After"); got != retryAfterSeconds {
			t.Errorf("GET %s, database down: Retry-After %q", target, got)
		}
	}
	if log.Contains("request failed") {
		t.Errorf("an unreachable database is logged as a failed request: %q", log.Lines())
	}
	if w := srvDo(s, http.MethodGet, "/readyz"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz, database down: %d", w.Code)
	}
}
