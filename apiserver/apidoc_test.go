package apiserver

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"

	"github.com/haul-dev/haul/internal/mddoc"
)

// apiDoc is the API's reference for people; the OpenAPI document is built
// from the code.
const apiDoc = "../docs/api.md"

// endpointHeading is the heading of an endpoint's section in docs/api.md.
var endpointHeading = regexp.MustCompile(`^\d+\.\d+ GET (/\S*)$`)

// TestAPIDocMatchesOpenAPI fails when docs/api.md and the OpenAPI document
// the server builds disagree: on the endpoints, on any parameter (name,
// place, type, whether required, default, allowed values) or on the
// statuses an endpoint answers. On a mismatch it prints the section's table
// as the document has it, to paste.
func TestAPIDocMatchesOpenAPI(t *testing.T) {
	doc, err := buildOpenAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	md, err := mddoc.Read(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]mddoc.Heading{}
	for _, h := range md.Headings() {
		if m := endpointHeading.FindStringSubmatch(h.Text); m != nil {
			documented[m[1]] = h
		}
	}
	for path, item := range doc.Paths.Map() {
		h, ok := documented[path]
		if !ok {
			t.Errorf("docs/api.md has no section for GET %s (a heading \"N.N GET %s\")", path, path)
			continue
		}
		section, _ := md.Section(h.Anchor)
		checkEndpointSection(t, path, h.Anchor, section, item.Get)
	}
	for path := range documented {
		if doc.Paths.Value(path) == nil {
			t.Errorf("docs/api.md documents GET %s, which the server does not serve", path)
		}
	}
}

func checkEndpointSection(t *testing.T, path, anchor, section string, op *openapi3.Operation) {
	t.Helper()
	want := paramRows(op)
	var got [][]string
	for _, table := range mddoc.Tables(section) {
		if table.Column("parameter") == 0 {
			got = table.Rows
			break
		}
	}
	if len(want) == 0 && got != nil {
		t.Errorf("GET %s takes no parameters; docs/api.md#%s lists %d", path, anchor, len(got))
	}
	if len(want) > 0 {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET %s: the parameter table of docs/api.md#%s differs from the OpenAPI document (-openapi +doc):\n%s\nit should read:\n%s",
				path, anchor, diff, renderTable(want))
		}
	}

	var wantStatuses []string
	for code := range op.Responses.Map() {
		wantStatuses = append(wantStatuses, code)
	}
	slices.Sort(wantStatuses)
	var gotStatuses []string
	for line := range strings.SplitSeq(section, "\n") {
		if rest, ok := strings.CutPrefix(line, "Statuses: "); ok {
			gotStatuses = mddoc.CodeSpans(rest)
		}
	}
	if !slices.Equal(wantStatuses, gotStatuses) {
		t.Errorf("GET %s answers %v; docs/api.md#%s says \"Statuses: %s\"", path, wantStatuses, anchor, strings.Join(gotStatuses, ", "))
	}

	// A contract endpoint's summary, shown on /docs, points at its section.
	if strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/api/v1/") && !strings.Contains(op.Summary, "docs/api.md#"+anchor) {
		t.Errorf("GET %s: summary %q does not point at docs/api.md#%s", path, op.Summary, anchor)
	}
}

// paramRows renders an operation's parameters as docs/api.md's tables do:
// parameter, in, type, required, default, allowed.
func paramRows(op *openapi3.Operation) [][]string {
	var rows [][]string
	for _, ref := range op.Parameters {
		p := ref.Value
		s := p.Schema.Value
		typ := s.Type.Slice()[0]
		if s.Format != "" {
			typ = s.Format
		}
		required, def, allowed := "no", "—", "—"
		if p.Required {
			required = "yes"
		}
		if s.Default != nil {
			def = "`" + fmt.Sprint(s.Default) + "`"
		}
		switch {
		case len(s.Enum) > 0:
			var values []string
			for _, e := range s.Enum {
				values = append(values, "`"+fmt.Sprint(e)+"`")
			}
			allowed = strings.Join(values, ", ")
		case s.Min != nil && s.Max != nil:
			allowed = strconv.FormatFloat(*s.Min, 'f', -1, 64) + "–" + strconv.FormatFloat(*s.Max, 'f', -1, 64)
		case s.MaxLength != nil:
			allowed = fmt.Sprintf("at most %d characters", *s.MaxLength)
		}
		rows = append(rows, []string{"`" + p.Name + "`", p.In, typ, required, def, allowed})
	}
	return rows
}

func renderTable(rows [][]string) string {
	var b strings.Builder
	b.WriteString("| parameter | in | type | required | default | allowed |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}
