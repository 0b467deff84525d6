// Package helm_test checks the Helm chart charts/haul with the Helm SDK: it
// lints, renders with each set of values in the chart's ci/ folder, applies
// every rendered object to a real kube-apiserver with server-side dry-run,
// and checks each container's command against the real haul binary.
package helm_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Paths relative to this package.
const (
	chartDir      = "../../charts/haul"
	generatedCRDs = "../../config/crd/bases"
)

// releaseName is the release every test renders; the chart's name is in
// it, so the full name is "haul".
const releaseName = "haul"

var loadChart = sync.OnceValues(func() (*chart.Chart, error) { return loader.Load(chartDir) })

func haulChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loadChart()
	if err != nil {
		t.Fatalf("load %s: %v", chartDir, err)
	}
	return c
}

// scenario is a set of values to install the chart with: a file of the
// chart's ci/ folder, as chart-testing uses them.
type scenario struct {
	name   string // the file's name without -values.yaml
	values map[string]any
}

// scenarios reads every ci/*-values.yaml; the defaults need a database, so
// the chart has no scenario of its bare defaults.
func scenarios(t *testing.T) []scenario {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("%s/ci has %d values files; want the existing-secret and full ones at least", chartDir, len(files))
	}
	var out []scenario
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, scenario{name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), values: v.AsMap()})
	}
	return out
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	for _, s := range scenarios(t) {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no %s/ci/%s-values.yaml", chartDir, name)
	return scenario{}
}

// object is one rendered Kubernetes object.
type object struct {
	*unstructured.Unstructured
	template string        // the template that rendered it
	hook     *release.Hook // nil for the release's own objects
}

func (o object) String() string {
	return fmt.Sprintf("%s %s (%s)", o.GetKind(), o.GetName(), o.template)
}

// component is the object's app.kubernetes.io/component label.
func (o object) component() string { return o.GetLabels()["app.kubernetes.io/component"] }

// rendered is what an install of the chart would create.
type rendered struct {
	values  map[string]any // the values rendered with: the chart's defaults and the user's
	hooks   []object       // in the order Helm runs them: by weight, then kind
	objects []object       // the release's own objects, in Helm's install order
	notes   string
}

// all returns the hooks, then the release's objects.
func (r rendered) all() []object { return slices.Concat(r.hooks, r.objects) }

func (r rendered) find(kind, name string) (object, bool) {
	for _, o := range r.all() {
		if o.GetKind() == kind && o.GetName() == name {
			return o, true
		}
	}
	return object{}, false
}

// render renders the chart as `helm install --namespace ns` would with the
// given values, checking them against values.schema.json; caps nil means
// Helm's default capabilities.
func render(c *chart.Chart, values map[string]any, ns string, caps *chartutil.Capabilities) (rendered, error) {
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: ns, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(c, values, opts, caps)
	if err != nil {
		return rendered{}, err
	}
	return renderValues(c, top)
}

func renderValues(c *chart.Chart, top chartutil.Values) (rendered, error) {
	files, err := engine.Render(c, top)
	if err != nil {
		return rendered{}, err
	}
	r := rendered{values: top["Values"].(chartutil.Values).AsMap()}
	for name, content := range files {
		if path.Base(name) == "NOTES.txt" {
			r.notes = content
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return rendered{}, err
	}
	sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Weight < hooks[j].Weight })
	for _, h := range hooks {
		u, err := decode(h.Manifest)
		if err != nil {
			return rendered{}, fmt.Errorf("%s: %w", h.Path, err)
		}
		r.hooks = append(r.hooks, object{Unstructured: u, template: h.Path, hook: h})
	}
	for _, m := range manifests {
		u, err := decode(m.Content)
		if err != nil {
			return rendered{}, fmt.Errorf("%s: %w", m.Name, err)
		}
		r.objects = append(r.objects, object{Unstructured: u, template: m.Name})
	}
	return r, nil
}

func decode(manifest string) (*unstructured.Unstructured, error) {
	var m map[string]any
	if err := yaml.UnmarshalStrict([]byte(manifest), &m); err != nil {
		return nil, fmt.Errorf("%w in\n%s", err, manifest)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// mustRender renders a scenario in namespace haul with default capabilities.
func mustRender(t *testing.T, s scenario) rendered {
	t.Helper()
	r, err := render(haulChart(t), s.values, "haul", nil)
	if err != nil {
		t.Fatalf("render with %s values: %v", s.name, err)
	}
	return r
}

// withValues returns base with the dotted keys set, leaving base as it was.
func withValues(t *testing.T, base map[string]any, set map[string]any) map[string]any {
	t.Helper()
	out, err := copyValues(base)
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range set {
		m := out
		parts := strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

func copyValues(v map[string]any) (map[string]any, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	return out, yaml.Unmarshal(b, &out)
}

// TestChartLint is `helm lint --strict` with the defaults and with each ci/
// values file: no warning and no error (informational notes, such as the
// missing icon, are logged). Lint tolerates the defaults' missing database
// (Helm lints `fail` as a note); TestRenderFailsClearlyWithoutDatabase
// checks it. `make helm-lint` runs this test.
func TestChartLint(t *testing.T) {
	logToTest(t)
	for _, s := range append([]scenario{{name: "defaults"}}, scenarios(t)...) {
		t.Run(s.name, func(t *testing.T) {
			linter := lint.All(chartDir, s.values, "haul", true)
			for _, m := range linter.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %v", m)
				} else {
					t.Logf("lint: %v", m)
				}
			}
		})
	}
}

// logToTest sends what Helm logs (with the standard logger) to the test's
// log for the test's duration.
func logToTest(t *testing.T) {
	t.Helper()
	prev, flags := log.Writer(), log.Flags()
	log.SetOutput(testWriter{t})
	log.SetFlags(0)
	t.Cleanup(func() {
		log.SetOutput(prev)
		log.SetFlags(flags)
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log("helm: " + strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestChartCRDsAreTheGeneratedOnes: crds/ holds exactly what `make
// manifests` generates into config/crd/bases, byte for byte.
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	chartCRDs := filepath.Join(chartDir, "crds")
	names := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	generated := names(generatedCRDs)
	if len(generated) == 0 {
		t.Fatalf("%s is empty", generatedCRDs)
	}
	if got := names(chartCRDs); !slices.Equal(got, generated) {
		t.Fatalf("%s holds %q, %s %q; run make manifests", chartCRDs, got, generatedCRDs, generated)
	}
	for _, name := range generated {
		want, err := os.ReadFile(filepath.Join(generatedCRDs, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartCRDs, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from %s/%s; run make manifests", chartCRDs, name, generatedCRDs, name)
		}
	}
}

func TestValuesSchemaRejectsBadValues(t *testing.T) {
	base := scenarioNamed(t, "existing-secret").values
	for _, tc := range []struct {
		name string
		set  map[string]any
		at   string // where the schema's error points
	}{
		{"unknown pull policy", map[string]any{"image.pullPolicy": "Sometimes"}, "/image/pullPolicy"},
		{"replicas as a word", map[string]any{"api.replicas": "two"}, "/api/replicas"},
		{"negative replicas", map[string]any{"listener.replicas": -1}, "/listener/replicas"},
		{"fractional replicas", map[string]any{"controller.replicas": 1.5}, "/controller/replicas"},
		{"flag as a string", map[string]any{"ingress.enabled": "yes"}, "/ingress/enabled"},
		{"port out of range", map[string]any{"api.service.port": 70000}, "/api/service/port"},
		{"unknown service type", map[string]any{"api.service.type": "Headless"}, "/api/service/type"},
		{"CORS origins as a string", map[string]any{"api.corsOrigins": "https://a.example"}, "/api/corsOrigins"},
		{"misspelt key", map[string]any{"lisener.enabled": false}, "lisener"},
		{"bad quantity", map[string]any{"api.resources.requests.cpu": "lots"}, "/api/resources/requests/cpu"},
		{"bad toleration operator", map[string]any{"tolerations": []any{map[string]any{"key": "k", "operator": "Maybe"}}}, "/tolerations/0/operator"},
		{"both databases", map[string]any{"database.url": "postgres://h/db"}, "/database"},
		{"empty secret key", map[string]any{"database.secretKey": ""}, "/database/secretKey"},
		{"path not absolute", map[string]any{"ingress.hosts": []any{map[string]any{"host": "h", "paths": []any{map[string]any{"path": "api"}}}}}, "/ingress/hosts/0/paths/0/path"},
		{"pull secret as a string", map[string]any{"imagePullSecrets": []any{"registry"}}, "/imagePullSecrets/0"},
		{"no run may load", map[string]any{"controller.maxActivePerDatabase": 0}, "/controller/maxActivePerDatabase"},
		{"bad namespace name", map[string]any{"controller.watchNamespace": "Analytics_Prod"}, "/controller/watchNamespace"},
		{"annotating as a string", map[string]any{"jobs.podsAnnotateThemselves": "true"}, "/jobs/podsAnnotateThemselves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(haulChart(t), withValues(t, base, tc.set), "haul", nil)
			if err == nil {
				t.Fatalf("values %v rendered; want the schema to reject them", tc.set)
			}
			if msg := err.Error(); !strings.Contains(msg, "values don't meet the specifications of the schema") || !strings.Contains(msg, tc.at) {
				t.Errorf("values %v: error %q; want a schema error at %s", tc.set, msg, tc.at)
			}
		})
	}
}

// noDatabase is the start of the message the chart fails with when no
// database is configured.
const noDatabase = "database: no database configured: set database.existingSecret"

func TestRenderFailsClearlyWithoutDatabase(t *testing.T) {
	c := haulChart(t)
	// The chart's bare defaults, as `helm install haul charts/haul`.
	_, err := render(c, nil, "haul", nil)
	if err == nil || !strings.Contains(err.Error(), noDatabase) {
		t.Errorf("render with the defaults: %v; want %q", err, noDatabase)
	}

	// Both set: the schema rejects it (above); with schema validation
	// skipped (--skip-schema-validation) the template still does.
	both := map[string]any{"database": map[string]any{"existingSecret": "db", "url": "postgres://h/db"}}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(c, both, chartutil.ReleaseOptions{Name: releaseName, Namespace: "haul"}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	const notBoth = "set database.existingSecret or database.url, not both"
	if _, err := renderValues(c, top); err == nil || !strings.Contains(err.Error(), notBoth) {
		t.Errorf("render with both databases, schema skipped: %v; want %q", err, notBoth)
	}
	// With the schema, its error says so in words too.
	if _, err := render(c, both, "haul", nil); err == nil || !strings.Contains(err.Error(), "set database.url or database.existingSecret, not both") {
		t.Errorf("render with both databases: %v; want the schema to say not both", err)
	}
}
