package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/haul-dev/haul/internal/datagen"
)

// The OpenAPI document is checked against the server that serves it: it
// validates, it lists exactly the routes gin serves, and every constraint
// it documents on a parameter is one the server enforces, with docs/api.md
// 1.5's message, and no other parameter is read.

// oasServed is the document as /openapi.json serves it.
func oasServed(t *testing.T, s *Server) []byte {
	t.Helper()
	w := srvDo(s, http.MethodGet, "/openapi.json")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /openapi.json: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	return w.Body.Bytes()
}

// oasDecode reads a document without resolving its references: enough for
// paths and parameters, which are inline.
func oasDecode(t *testing.T, body []byte) *openapi3.T {
	t.Helper()
	var doc openapi3.T
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode /openapi.json: %v", err)
	}
	return &doc
}

// TestOpenAPIDocumentValidates: /openapi.json loads and passes kin-openapi's
// validation, with and without API keys; with keys every /api route asks
// for one, and the open routes do not.
func TestOpenAPIDocumentValidates(t *testing.T) {
	e := newSrvEnv(t, Config{})
	for _, keys := range [][]string{nil, {"k"}} {
		body := oasServed(t, e.server(Config{APIKeys: keys}))
		name := fmt.Sprintf("%d keys", len(keys))
		t.Run(name, func(t *testing.T) {
			doc, err := openapi3.NewLoader().LoadFromData(body)
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.Validate(t.Context()); err != nil {
				t.Fatal(err)
			}
			for path, item := range doc.Paths.Map() {
				for method, op := range item.Operations() {
					guarded := strings.HasPrefix(path, "/api/") && len(keys) > 0
					if got := op.Security != nil && len(*op.Security) > 0; got != guarded {
						t.Errorf("%s %s: security %v, want required %v", method, path, op.Security, guarded)
					}
					if got := op.Responses.Status(http.StatusUnauthorized) != nil; got != guarded {
						t.Errorf("%s %s: 401 documented %v, want %v", method, path, got, guarded)
					}
				}
			}
			schemes := doc.Components.SecuritySchemes
			if len(keys) > 0 && (schemes["bearer"] == nil || schemes["apiKey"] == nil ||
				schemes["apiKey"].Value.In != "header" || schemes["apiKey"].Value.Name != "X-API-Key") {
				t.Errorf("security schemes %v, want bearer and the X-API-Key header", schemes)
			}
		})
	}
}

// TestDocsPage: /docs is a page that reads the document.
func TestDocsPage(t *testing.T) {
	e := newSrvEnv(t, Config{APIKeys: []string{"k"}})
	w := e.get("/docs")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(w.Body.String(), `fetch("openapi.json")`) {
		t.Errorf("GET /docs: %d %s\n%.300s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

// oasPath is a gin route in OpenAPI's form: /a/:id -> /a/{id}.
func oasPath(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = "{" + name + "}"
		} else if name, ok := strings.CutPrefix(p, "*"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

var oasPathParam = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPIRoutesMatchServed: every route gin serves is documented with
// its method and path parameters, and every documented operation is served.
func TestOpenAPIRoutesMatchServed(t *testing.T) {
	for _, keys := range [][]string{nil, {"k"}} {
		e := newSrvEnv(t, Config{APIKeys: keys})
		doc := oasDecode(t, oasServed(t, e.srv))
		served, documented := map[string]bool{}, map[string]bool{}
		for _, r := range e.srv.servedRoutes() {
			served[r.Method+" "+oasPath(r.Path)] = true
		}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				documented[method+" "+path] = true
				var want, got []string
				for _, m := range oasPathParam.FindAllStringSubmatch(path, -1) {
					want = append(want, m[1])
				}
				for _, p := range op.Parameters {
					if p.Value.In == openapi3.ParameterInPath {
						got = append(got, p.Value.Name)
						if !p.Value.Required {
							t.Errorf("%s %s: path parameter %s not required", method, path, p.Value.Name)
						}
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s %s: path parameters %q, want %q", method, path, got, want)
				}
			}
		}
		for r := range served {
			if !documented[r] {
				t.Errorf("%s is served but not documented", r)
			}
		}
		for r := range documented {
			if !served[r] {
				t.Errorf("%s is documented but not served", r)
			}
		}
		if len(served) < 19 {
			t.Errorf("only %d routes served", len(served))
		}
	}
}

// docs/api.md#15-validation-and-errors's messages, after "<param>: ".
const (
	oasRequired   = "Field required"
	oasNotInteger = "Input should be a valid integer, unable to parse string as an integer"
	oasBadDate    = "Value error, Date must be in YYYY-MM-DD format"
)

// oasChoices is the message for a value outside choices: "Input should be
// 'a', 'b' or 'c'".
func oasChoices(choices []any) string {
	quoted := make([]string, len(choices))
	for i, c := range choices {
		quoted[i] = fmt.Sprintf("'%v'", c)
	}
	if len(quoted) == 1 {
		return "Input should be " + quoted[0]
	}
	return "Input should be " + strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}

func oasInt(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// oasProbe is a value sent for one parameter, and the 400 message it must
// get; an empty msg marks a value that must be accepted.
type oasProbe struct{ value, msg string }

// oasProbes derives from a parameter's documented schema the values the
// server must refuse, and the edge values it must accept.
func oasProbes(s *openapi3.Schema) []oasProbe {
	var out []oasProbe
	switch {
	case len(s.Enum) > 0:
		out = append(out, oasProbe{"not-a-choice", oasChoices(s.Enum)})
		for _, v := range s.Enum {
			out = append(out, oasProbe{value: fmt.Sprint(v)})
		}
	case s.Type.Is(openapi3.TypeInteger):
		out = append(out, oasProbe{"x", oasNotInteger}, oasProbe{"", oasNotInteger}, oasProbe{"1.0", oasNotInteger})
		if s.Min != nil {
			out = append(out, oasProbe{oasInt(*s.Min - 1), "Input should be greater than or equal to " + oasInt(*s.Min)},
				oasProbe{value: oasInt(*s.Min)})
		}
		if s.Max != nil {
			out = append(out, oasProbe{oasInt(*s.Max + 1), "Input should be less than or equal to " + oasInt(*s.Max)},
				oasProbe{value: oasInt(*s.Max)})
		}
	case s.Format == "date":
		out = append(out, oasProbe{"2023-02-29", oasBadDate}, oasProbe{"2024/01/01", oasBadDate}, oasProbe{"", oasBadDate},
			oasProbe{value: "2024-02-29"})
	case s.MaxLength != nil:
		n := int(*s.MaxLength)
		out = append(out, oasProbe{strings.Repeat("é", n+1), fmt.Sprintf("String should have at most %d characters", n)},
			oasProbe{value: strings.Repeat("é", n)})
	}
	return out
}

// oasValid is a valid value for a parameter: the fixture's for the window
// and the path parameters, else one its schema allows.
func oasValid(p *openapi3.Parameter, fixture map[string]string) string {
	if v, ok := fixture[p.Name]; ok {
		return v
	}
	s := p.Schema.Value
	switch {
	case s.Default != nil:
		return fmt.Sprint(s.Default)
	case len(s.Enum) > 0:
		return fmt.Sprint(s.Enum[0])
	case s.Min != nil:
		return oasInt(*s.Min)
	case s.Format == "date":
		return "2024-06-01"
	}
	return "x"
}

// oasDefault is a documented default as it would be sent.
func oasDefault(v any) string {
	if f, ok := v.(float64); ok {
		return oasInt(f)
	}
	return fmt.Sprint(v)
}

// oasDetail is the detail of a 400, or "".
func oasDetail(w *httptest.ResponseRecorder) string {
	var body struct{ Detail string }
	if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &body) != nil {
		return ""
	}
	return body.Detail
}

// TestOpenAPIParametersMatchValidation: for every documented operation,
// each documented query parameter's required flag, default, enum, bounds,
// format and length are what the server enforces, each failure a 400
// naming exactly that parameter; and every parameter some operation
// documents, sent invalid to an operation that does not document it, is
// ignored there: the server reads no parameter its document omits.
func TestOpenAPIParametersMatchValidation(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 3_000, Cities: 12, Seed: 23})
	fixture := map[string]string{"vehicle_id": e.vehicleID(), "run_id": "first", "start": "2023-01-01", "end": "2025-12-31"}
	doc := oasDecode(t, oasServed(t, e.srv))

	// Every query parameter some operation documents, with a value invalid
	// under each schema it is documented with.
	bad := map[string]string{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value.In != openapi3.ParameterInQuery {
					continue
				}
				for _, probe := range oasProbes(p.Value.Schema.Value) {
					if probe.msg != "" && probe.value != "" {
						bad[p.Value.Name] = probe.value
						break
					}
				}
				if _, ok := bad[p.Value.Name]; !ok {
					t.Errorf("query parameter %s has nothing to validate: %+v", p.Value.Name, p.Value.Schema.Value)
				}
			}
		}
	}
	if len(bad) < 10 {
		t.Errorf("only %d query parameters documented: %v", len(bad), bad)
	}

	for _, path := range doc.Paths.InMatchingOrder() {
		op := doc.Paths.Value(path).Get
		if op == nil {
			continue
		}
		t.Run(path, func(t *testing.T) {
			target := oasPathParam.ReplaceAllStringFunc(path, func(m string) string {
				return url.PathEscape(fixture[strings.Trim(m, "{}")])
			})
			query := url.Values{}
			documented := map[string]*openapi3.Parameter{}
			for _, p := range op.Parameters {
				if p.Value.In == openapi3.ParameterInQuery {
					documented[p.Value.Name] = p.Value
					if p.Value.Required {
						query.Set(p.Value.Name, oasValid(p.Value, fixture))
					}
				}
			}
			get := func(change func(url.Values)) *httptest.ResponseRecorder {
				q := url.Values{}
				for k, v := range query {
					q[k] = slices.Clone(v)
				}
				change(q)
				return e.get(target + "?" + q.Encode())
			}
			// Only /api answers are the same from one request to the next.
			stable := strings.HasPrefix(path, "/api/")
			base := get(func(url.Values) {})
			if base.Code != http.StatusOK {
				t.Fatalf("GET %s?%s: %d %s", target, query.Encode(), base.Code, base.Body)
			}
			same := func(what string, w *httptest.ResponseRecorder) {
				t.Helper()
				if w.Code != http.StatusOK || stable && w.Body.String() != base.Body.String() {
					t.Errorf("%s: %d %.300s\nwant %.300s", what, w.Code, w.Body, base.Body)
				}
			}

			for name, p := range documented {
				if p.Required {
					if got := oasDetail(get(func(q url.Values) { q.Del(name) })); got != name+": "+oasRequired {
						t.Errorf("without required %s: 400 %q", name, got)
					}
				} else if d := p.Schema.Value.Default; d != nil {
					same(fmt.Sprintf("%s=%v, the documented default", name, d), get(func(q url.Values) { q.Set(name, oasDefault(d)) }))
				}
				for _, probe := range oasProbes(p.Schema.Value) {
					w := get(func(q url.Values) { q.Set(name, probe.value) })
					if probe.msg == "" {
						if w.Code != http.StatusOK {
							t.Errorf("%s=%q, allowed by the document: %d %s", name, probe.value, w.Code, w.Body)
						}
					} else if got := oasDetail(w); got != name+": "+probe.msg {
						t.Errorf("%s=%.20q: %d %q, want 400 %q", name, probe.value, w.Code, got, name+": "+probe.msg)
					}
				}
			}
			for name, value := range bad {
				if documented[name] == nil {
					same(fmt.Sprintf("undocumented %s=%.20q", name, value), get(func(q url.Values) { q.Set(name, value) }))
				}
			}
		})
	}
}

// oasKnownBugs are mismatches between answers and the document: the
// operation and status, a part of kin-openapi's complaint, and the bug.

// TestResponsesMatchDocument: the answers the server gives, successes and
// failures, have a status the document lists for the operation and a body
// its schema allows (kin-openapi's openapi3filter).
func TestResponsesMatchDocument(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 1_000, Cities: 8, Seed: 24})
	e.exec(`INSERT INTO ingest_runs (run_id) VALUES ('live')`)
	vid := e.vehicleID()
	keyed := e.server(Config{APIKeys: []string{"k"}})
	notReady := e.server(Config{SchemaVersion: 1 << 40})

	type request struct {
		s      *Server
		target string
	}
	var requests []request
	for _, target := range append(srvTargets(vid, "first"), "/api/v1/runs/live", "/api/v1/runs/no-such-run",
		"/api/vehicles/no-such-vehicle/details?"+srvSpan, "/api/route/reliability?"+srvSpan+"&page=99",
		"/api/shipments/routes?sort_by=nope", "/api/dashboard?"+srvSpan, "/api/v1/runs?page=0",
		"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs") {
		requests = append(requests, request{e.srv, target}, request{keyed, target})
	}
	requests = append(requests, request{notReady, "/readyz"})

	for _, keys := range []bool{false, true} {
		s := e.srv
		if keys {
			s = keyed
		}
		doc, err := openapi3.NewLoader().LoadFromData(oasServed(t, s))
		if err != nil {
			t.Fatal(err)
		}
		router, err := legacy.NewRouter(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range requests {
			if (r.s == keyed) != keys {
				continue
			}
			req := httptest.NewRequest(http.MethodGet, r.target, nil)
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Errorf("GET %s: %v", r.target, err)
				continue
			}
			w := srvDo(r.s, http.MethodGet, r.target)
			key := fmt.Sprintf("GET %s %d", route.Path, w.Code)
			isJSON := strings.HasPrefix(w.Header().Get("Content-Type"), "application/json")
			err = openapi3filter.ValidateResponse(t.Context(), &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
				Status:                 w.Code,
				Header:                 w.Header(),
				Body:                   io.NopCloser(bytes.NewReader(w.Body.Bytes())),
				Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: !isJSON},
			})
			if err == nil {
				continue
			}
			t.Run(key, func(t *testing.T) {
				t.Errorf("GET %s (keys %v): %d %.300s\n%v", r.target, keys, w.Code, w.Body, err)
			})
		}
	}
}
