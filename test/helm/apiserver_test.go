package helm_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haul-dev/haul/internal/kubetest"
)

// restrictedNamespace creates a namespace where Pod Security Admission
// enforces, and warns about, the "restricted" profile.
func restrictedNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// TestManifestsApplyToKubeAPIServer renders each ci/ scenario, then
// creates every object (hooks included) on a real kube-apiserver with
// server-side dry-run, so the API's validation and admission judge them:
// schema, unknown fields, the IngestionRun CRD, and Pod Security
// "restricted" for a pod made from each pod template. Any warning fails too.
func TestManifestsApplyToKubeAPIServer(t *testing.T) {
	cfg := rest.CopyConfig(kubetest.Start(t, filepath.Join(chartDir, "crds"), filepath.Join("testdata", "monitoring-crds")))
	warned := &kubetest.Warnings{}
	cfg.WarningHandler = warned
	c := kubetest.Client(t, cfg)
	ctx := t.Context()

	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	version, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	chrt := haulChart(t)
	if !chartutil.IsCompatibleRange(chrt.Metadata.KubeVersion, version.GitVersion) {
		t.Fatalf("the chart's kubeVersion %q excludes the test's kube-apiserver %s", chrt.Metadata.KubeVersion, version.GitVersion)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: version.GitVersion, Major: version.Major, Minor: version.Minor}

	// The pod checks below prove something only if the policy is enforced.
	restrictedNamespace(ctx, t, c, "haul-policy-check")
	root := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "root", Namespace: "haul-policy-check"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "haul"}}},
	}
	if err := c.Create(ctx, root, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a pod without a securityContext in a restricted namespace: %v; want Pod Security to reject it", err)
	}
	warned.Take()

	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			ns := "haul-" + s.name
			restrictedNamespace(ctx, t, c, ns)
			r, err := render(chrt, s.values, ns, caps)
			if err != nil {
				t.Fatal(err)
			}
			dryRun := func(what string, obj client.Object) {
				t.Helper()
				if err := c.Create(ctx, obj, client.DryRunAll); err != nil {
					t.Errorf("%s: %v", what, err)
				}
				for _, w := range warned.Take() {
					t.Errorf("%s: warning: %s", what, w)
				}
			}

			for _, o := range r.all() {
				namespaced, err := c.IsObjectNamespaced(o.Unstructured)
				if err != nil {
					t.Errorf("%s: %v", o, err)
					continue
				}
				// Helm would fill in a missing namespace; the chart sets
				// it, so `helm template | kubectl apply` works as well.
				if got, want := o.GetNamespace(), map[bool]string{true: ns}[namespaced]; got != want {
					t.Errorf("%s: namespace %q, want %q", o, got, want)
				}
				dryRun(o.String(), o.DeepCopy())
			}

			for _, w := range workloads(t, r) {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{
						Name:        w.GetName() + "-pod",
						Namespace:   ns,
						Labels:      w.pod.Labels,
						Annotations: w.pod.Annotations,
					},
					Spec: w.pod.Spec,
				}
				dryRun("a pod of "+w.String(), pod)
			}

			run := notesIngestionRun(t, r.notes)
			run.SetNamespace(ns)
			dryRun("the IngestionRun of NOTES.txt", run)
		})
	}
}

// The IngestionRun NOTES.txt shows, in a `kubectl apply -f - <<'EOF'` heredoc.
var notesHeredoc = regexp.MustCompile(`(?s)apply -f - <<'EOF'\n(.*?)\nEOF\n`)

func notesIngestionRun(t *testing.T, notes string) *unstructured.Unstructured {
	t.Helper()
	m := notesHeredoc.FindStringSubmatch(notes)
	if m == nil {
		t.Fatalf("NOTES.txt shows no `kubectl apply -f - <<'EOF'` of an IngestionRun:\n%s", notes)
	}
	u, err := decode(m[1])
	if err != nil {
		t.Fatalf("NOTES.txt's IngestionRun: %v", err)
	}
	if u.GetKind() != "IngestionRun" {
		t.Fatalf("NOTES.txt applies a %s, want an IngestionRun", u.GetKind())
	}
	return u
}
