package apiserver

import (
	"fmt"
	"html/template"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"github.com/gin-gonic/gin"
)

// The OpenAPI document is built from the endpoint table and the Go types
// the handlers return: nothing is kept by hand beside them.

// paramDoc documents one parameter of an endpoint.
type paramDoc struct {
	name, in, typ, format, description string
	required                           bool
	def                                any
	enum                               []string
	min, max                           float64 // bounds of integers; both 0 for none
	maxLength                          uint64
}

func windowParams() []paramDoc {
	return []paramDoc{
		{name: "start", in: "query", typ: "string", format: "date", required: true,
			description: "First trip date of the window, YYYY-MM-DD (inclusive)"},
		{name: "end", in: "query", typ: "string", format: "date", required: true,
			description: "Last trip date of the window, YYYY-MM-DD (inclusive, not before start)"},
	}
}

var (
	intervalTypeParam = paramDoc{name: "interval_type", in: "query", typ: "string", required: true,
		enum: []string{"week", "month", "year"}, description: "Length of the shift to the previous window"}
	periodsBackParam = paramDoc{name: "periods_back", in: "query", typ: "integer", def: 1, min: 1, max: 100,
		description: "How many intervals back the previous window lies"}
	limitParam = paramDoc{name: "limit", in: "query", typ: "integer", def: 10, min: 1, max: 100,
		description: "Most routes returned"}
	vehicleIDParam = paramDoc{name: "vehicle_id", in: "path", typ: "string", required: true,
		description: "The vehicle's id, exactly"}
)

func pagingParams() []paramDoc {
	return []paramDoc{
		{name: "page", in: "query", typ: "integer", def: 1, min: 1, max: 1_000_000_000, description: "1-based page"},
		{name: "page_size", in: "query", typ: "integer", def: 10, min: 1, max: 100, description: "Rows per page"},
	}
}

func listParams(spec sortSpec) []paramDoc {
	return append(pagingParams(),
		paramDoc{name: "sort_by", in: "query", typ: "string", def: spec.defaultSort, enum: spec.fields,
			description: "Field to sort by (case-insensitive); ties by origin, then destination"},
		paramDoc{name: "sort_order", in: "query", typ: "string", def: "desc", enum: []string{"asc", "desc"},
			description: "Sort direction (case-insensitive)"},
		paramDoc{name: "search", in: "query", typ: "string", maxLength: 100,
			description: "Keep routes whose origin or destination contains this text (case-insensitive, literal)"},
	)
}

func windowListParams(spec sortSpec) []paramDoc { return append(windowParams(), listParams(spec)...) }

// ownRoute is a route outside the compatibility contract.
type ownRoute struct {
	path, summary, contentType string
	params                     []paramDoc
	response                   any
	// errors are the error statuses it answers besides 401 and 500.
	errors []int
	// open routes need no API key.
	open bool
}

var ownRoutes = []ownRoute{
	{path: "/healthz", summary: "Liveness", response: map[string]string{}, open: true},
	{path: "/readyz", summary: "Readiness: the database answers and has the schema", response: map[string]string{},
		errors: []int{http.StatusServiceUnavailable}, open: true},
	{path: "/metrics", summary: "Prometheus metrics", contentType: "text/plain", open: true},
	{path: "/openapi.json", summary: "This document", response: map[string]any{}, open: true},
	{path: "/docs", summary: "This document, for reading", contentType: "text/html", open: true},
	{path: "/api/v1/runs", summary: "Ingestion runs, newest first", params: pagingParams(), response: RunPage{},
		errors: []int{http.StatusBadRequest, http.StatusServiceUnavailable}},
	{path: "/api/v1/runs/:run_id", summary: "One ingestion run with its datasets",
		params:   []paramDoc{{name: "run_id", in: "path", typ: "string", required: true, description: "The run's id"}},
		response: RunDetail{}, errors: []int{http.StatusNotFound, http.StatusServiceUnavailable}},
	{path: "/api/v1/version", summary: "The served data version and the state of the aggregate refresh", response: DataVersion{},
		errors: []int{http.StatusServiceUnavailable}},
}

// openAPIPath turns a gin path into an OpenAPI one: /a/:id -> /a/{id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

var errorSchema = openapi3.NewObjectSchema().WithProperty("detail", openapi3.NewStringSchema()).WithRequired([]string{"detail"})

// buildOpenAPI assembles the document.
func buildOpenAPI(authRequired bool) (*openapi3.T, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{Title: "Haul API", Version: "1",
			Description: "Fleet and shipment analytics, computed from precomputed aggregates. The /api routes " +
				"except /api/v1 are wire-compatible with the reference implementation."},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{Schemas: openapi3.Schemas{}, SecuritySchemes: openapi3.SecuritySchemes{}},
	}
	doc.Components.Schemas["Error"] = openapi3.NewSchemaRef("", errorSchema)
	tags := &fieldTags{nullableTypes: map[string]bool{}}
	if authRequired {
		doc.Components.SecuritySchemes["bearer"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().WithBearerFormat("")}
		doc.Components.SecuritySchemes["apiKey"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().
			WithType("apiKey").WithIn("header").WithName("X-API-Key")}
	}
	gen := openapi3gen.NewGenerator(openapi3gen.CreateComponentSchemas(openapi3gen.ExportComponentSchemasOptions{
		ExportComponentSchemas: true, ExportTopLevelSchema: true, ExportGenerics: true,
	}), openapi3gen.CreateTypeNameGenerator(schemaName), openapi3gen.SchemaCustomizer(tags.apply))
	add := func(path, summary, contentType string, params []paramDoc, response any, open bool, errors ...int) error {
		op := openapi3.NewOperation()
		op.Summary = summary
		op.OperationID = operationID(path)
		for _, p := range params {
			op.AddParameter(p.parameter())
		}
		ok := openapi3.NewResponse().WithDescription("OK")
		switch {
		case contentType != "":
			ok.WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema(), []string{contentType}))
		default:
			ref, err := gen.NewSchemaRefForValue(response, doc.Components.Schemas)
			if err != nil {
				return fmt.Errorf("schema of %s: %w", path, err)
			}
			ok.WithContent(openapi3.NewContentWithJSONSchemaRef(ref))
		}
		op.AddResponse(http.StatusOK, ok)
		if !open && authRequired {
			errors = append(errors, http.StatusUnauthorized)
			op.Security = &openapi3.SecurityRequirements{{"bearer": {}}, {"apiKey": {}}}
		}
		for _, code := range append(errors, http.StatusInternalServerError) {
			op.AddResponse(code, openapi3.NewResponse().WithDescription(http.StatusText(code)).
				WithContent(openapi3.NewContentWithJSONSchemaRef(openapi3.NewSchemaRef("#/components/schemas/Error", errorSchema))))
		}
		doc.AddOperation(openAPIPath(path), http.MethodGet, op)
		return nil
	}
	for _, ep := range endpoints {
		codes := []int{}
		if len(ep.params) > 0 {
			codes = append(codes, http.StatusBadRequest)
		}
		if strings.Contains(ep.path, ":vehicle_id") {
			codes = append(codes, http.StatusNotFound)
		}
		codes = append(codes, http.StatusServiceUnavailable) // see unavailable
		if err := add("/api"+ep.path, ep.summary, "", ep.params, ep.response, false, codes...); err != nil {
			return nil, err
		}
	}
	for _, r := range ownRoutes {
		if err := add(r.path, r.summary, r.contentType, r.params, r.response, r.open, r.errors...); err != nil {
			return nil, err
		}
	}
	// A nullable field that refers to a component makes the component
	// nullable: OpenAPI 3.0 ignores keywords beside a $ref.
	for name := range tags.nullableTypes {
		if ref, ok := doc.Components.Schemas[name]; ok && ref.Value != nil {
			ref.Value.Nullable = true
		}
	}
	return doc, nil
}

// fieldTags applies struct tags the generator does not know: `enum:"a,b"`
// lists allowed values, `nullable:"true"` marks a field that may be null.
type fieldTags struct {
	// nullableTypes are the component schemas nullable fields refer to.
	nullableTypes map[string]bool
}

func (f *fieldTags) apply(_ string, t reflect.Type, tag reflect.StructTag, schema *openapi3.Schema) error {
	if e := tag.Get("enum"); e != "" {
		for _, v := range strings.Split(e, ",") {
			schema.Enum = append(schema.Enum, v)
		}
	}
	if tag.Get("nullable") == "true" {
		schema.Nullable = true
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		f.nullableTypes[schemaName(t)] = true
	}
	return nil
}

// schemaName names a component schema after its Go type, without package
// paths or brackets, which are not allowed in a component name:
// Page[github.com/haul-dev/haul/apiserver.CostValueRow] -> PageCostValueRow.
func schemaName(t reflect.Type) string {
	name := packagePath.ReplaceAllString(t.Name(), "")
	return nonIdent.ReplaceAllString(name, "")
}

var (
	packagePath = regexp.MustCompile(`[\w./-]*\.`)
	nonIdent    = regexp.MustCompile(`[^A-Za-z0-9_]`)
)

func operationID(path string) string {
	r := strings.NewReplacer("/", "_", ":", "", "-", "_", ".", "_")
	return strings.Trim(r.Replace(path), "_")
}

func (p paramDoc) parameter() *openapi3.Parameter {
	var schema *openapi3.Schema
	switch p.typ {
	case "integer":
		schema = openapi3.NewIntegerSchema()
		if p.min != 0 || p.max != 0 {
			schema.WithMin(p.min).WithMax(p.max)
		}
	default:
		schema = openapi3.NewStringSchema()
		schema.Format = p.format
		if p.maxLength > 0 {
			schema.WithMaxLength(int64(p.maxLength))
		}
	}
	for _, e := range p.enum {
		schema.Enum = append(schema.Enum, e)
	}
	schema.Default = p.def
	param := &openapi3.Parameter{Name: p.name, In: p.in, Description: p.description, Required: p.required,
		Schema: openapi3.NewSchemaRef("", schema)}
	return param
}

type docsCache struct {
	once sync.Once
	json []byte
	err  error
}

func (s *Server) openAPIJSON() ([]byte, error) {
	s.apiDoc.once.Do(func() {
		doc, err := buildOpenAPI(len(s.cfg.APIKeys) > 0)
		if err != nil {
			s.apiDoc.err = err
			return
		}
		s.apiDoc.json, s.apiDoc.err = doc.MarshalJSON()
	})
	return s.apiDoc.json, s.apiDoc.err
}

func (s *Server) openAPI(c *gin.Context) {
	body, err := s.openAPIJSON()
	if err != nil {
		s.internalError(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// docsPage renders the document in the browser with no external assets:
// a small script lays out /openapi.json.
var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Haul API</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{font-size:1.05rem;margin-top:2rem;font-family:ui-monospace,monospace}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
code,pre{font-family:ui-monospace,monospace;font-size:.85rem}pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:20rem}
</style></head><body>
<h1>Haul API</h1><p>The machine-readable document is <a href="openapi.json">openapi.json</a>.</p>
<div id="ops">Loading…</div>
<script>
fetch("openapi.json").then(r => r.json()).then(doc => {
  const el = document.getElementById("ops"); el.textContent = "";
  const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
  for (const [path, item] of Object.entries(doc.paths)) {
    const op = item.get; if (!op) continue;
    let html = "<h2>GET " + esc(path) + "</h2><p>" + esc(op.summary) + "</p>";
    if (op.parameters && op.parameters.length) {
      html += "<table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>default</th><th>allowed</th><th>description</th></tr>";
      for (const p of op.parameters) {
        const s = p.schema || {};
        const allowed = s.enum ? s.enum.join(", ") : (s.minimum !== undefined ? s.minimum + "–" + s.maximum : (s.maxLength ? "≤ " + s.maxLength + " chars" : ""));
        html += "<tr><td><code>" + esc(p.name) + "</code></td><td>" + esc(p.in) + "</td><td>" + esc(s.format || s.type) +
          "</td><td>" + (p.required ? "yes" : "") + "</td><td>" + esc(s.default) + "</td><td>" + esc(allowed) + "</td><td>" + esc(p.description) + "</td></tr>";
      }
      html += "</table>";
    }
    const ok = op.responses["200"] && op.responses["200"].content && op.responses["200"].content["application/json"];
    if (ok) html += "<details><summary>response schema</summary><pre>" + esc(JSON.stringify(ok.schema, null, 2)) + "</pre></details>";
    el.insertAdjacentHTML("beforeend", html);
  }
}).catch(e => { document.getElementById("ops").textContent = "Could not load openapi.json: " + e; });
</script></body></html>
`))

func (s *Server) docs(c *gin.Context) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	if err := docsPage.Execute(c.Writer, nil); err != nil {
		s.cfg.Log.Error(err, "render docs page")
	}
}
