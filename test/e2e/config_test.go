package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/internal/kubetest"
	"github.com/haul-dev/haul/internal/testutil"
)

// kustomization is the part of a kustomization.yaml these manifests use.
type kustomization struct {
	Resources []string `json:"resources"`
	// Components are folders whose resources are added (kind: Component).
	Components []string `json:"components"`
}

// manifests collects the objects a kustomization names, following
// folders, in order; it fails on a file the kustomization does not name
// (forgotten) or names but lacks.
func manifests(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	var k kustomization
	if err := yaml.UnmarshalStrict(testutil.ReadFile(t, filepath.Join(dir, "kustomization.yaml")), &k); err != nil {
		// images: and other fields are allowed; only resources matter here.
		if err := yaml.Unmarshal(testutil.ReadFile(t, filepath.Join(dir, "kustomization.yaml")), &k); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
	}
	named := map[string]bool{}
	var out []*unstructured.Unstructured
	for _, r := range slices.Concat(k.Resources, k.Components) {
		path := filepath.Join(dir, r)
		named[filepath.Clean(path)] = true
		if fi, err := os.Stat(path); err != nil {
			t.Fatalf("%s names %s: %v", dir, r, err)
		} else if fi.IsDir() {
			out = append(out, manifests(t, path)...)
			continue
		}
		out = append(out, decodeAll(t, path)...)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" && !named[filepath.Clean(f)] {
			t.Errorf("%s is not in %s/kustomization.yaml", f, dir)
		}
	}
	return out
}

func decodeAll(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(testutil.ReadFile(t, path)), 4096)
	for {
		var u unstructured.Unstructured
		err := d.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, &u)
		}
	}
}

// config/default (the operator alone) and config/samples are valid for a
// real kube-apiserver: every object is created with server-side dry-run,
// with no warning, and the controller's pod passes the "restricted" Pod
// Security Standard its namespace enforces.
func TestConfigManifests(t *testing.T) {
	cfg := rest.CopyConfig(kubetest.Start(t, "../../config/crd/bases"))
	warned := &kubetest.Warnings{}
	cfg.WarningHandler = warned
	c := kubetest.Client(t, cfg, haulv1alpha1.AddToScheme)
	ctx := t.Context()

	objs := manifests(t, "../../config/default")
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		switch o.GetKind() {
		case "CustomResourceDefinition":
			continue // installed by kubetest.Start from the same file
		case "Namespace":
			// The other objects' dry-run needs it for real.
			if err := c.Create(ctx, o.DeepCopy()); err != nil {
				t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace" {
			continue
		}
		if err := c.Create(ctx, o.DeepCopy(), client.DryRunAll); err != nil {
			t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		for _, w := range warned.Take() {
			t.Errorf("%s %s: warning: %s", o.GetKind(), o.GetName(), w)
		}
		if o.GetKind() == "Deployment" {
			var d appsv1.Deployment
			if err := c.Scheme().Convert(o, &d, nil); err != nil {
				t.Fatal(err)
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "policy-check", Namespace: d.Namespace,
				Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
			if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
				t.Errorf("a pod of deployment %s: %v", d.Name, err)
			}
			if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.HasPrefix(args, "controller ") {
				t.Errorf("deployment %s runs haul %s, want haul controller", d.Name, args)
			}
		}
	}
	for kind, want := range map[string]int{"CustomResourceDefinition": 1, "ClusterRole": 2, "Deployment": 1, "ServiceAccount": 2, "Service": 1} {
		if kinds[kind] != want {
			t.Errorf("config/default has %d %s, want %d", kinds[kind], kind, want)
		}
	}

	for _, o := range manifests(t, "../../config/samples") {
		o.SetNamespace("haul-system")
		if err := c.Create(ctx, o, client.DryRunAll); err != nil {
			t.Errorf("sample %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// config/overlays/prometheus adds a ServiceMonitor that selects the
// controller's metrics Service by its labels and port name; it dry-runs
// on a kube-apiserver with stand-ins for the Prometheus Operator's CRDs.
func TestConfigPrometheusOverlay(t *testing.T) {
	cfg := rest.CopyConfig(kubetest.Start(t, "../../config/crd/bases", "../helm/testdata/monitoring-crds"))
	c := kubetest.Client(t, cfg)
	objs := manifests(t, "../../config/overlays/prometheus")
	var svc, monitor *unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Service":
			svc = o
		case "ServiceMonitor":
			monitor = o
		case "Namespace":
			if err := c.Create(t.Context(), o.DeepCopy()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if svc == nil || monitor == nil {
		t.Fatalf("config/overlays/prometheus: Service %v, ServiceMonitor %v; want both", svc, monitor)
	}
	sel, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svc.GetLabels()[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the metrics Service is labelled %v", k, v, svc.GetLabels())
		}
	}
	eps, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(eps) != 1 || len(ports) != 1 || eps[0].(map[string]any)["port"] != ports[0].(map[string]any)["name"] {
		t.Errorf("ServiceMonitor endpoints %v do not scrape the Service's port %v", eps, ports)
	}
	if err := c.Create(t.Context(), monitor.DeepCopy(), client.DryRunAll); err != nil {
		t.Errorf("ServiceMonitor: %v", err)
	}
}
