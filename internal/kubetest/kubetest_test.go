package kubetest_test

import (
	"context"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/haul-dev/haul/internal/kubetest"
)

func widget(name string, size int64) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "test.haul.dev/v1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec":       map[string]any{"size": size},
	}}
	return u
}

func TestControlPlaneInstallsAndEnforcesCRD(t *testing.T) {
	cfg := kubetest.Start(t, "testdata/crds")
	c := kubetest.Client(t, cfg, apiextensionsv1.AddToScheme)
	ctx := context.Background()

	var crd apiextensionsv1.CustomResourceDefinition
	if err := c.Get(ctx, types.NamespacedName{Name: "widgets.test.haul.dev"}, &crd); err != nil {
		t.Fatalf("CRD not installed: %v", err)
	}

	w := widget("ok", 3)
	if err := c.Create(ctx, w); err != nil {
		t.Fatalf("create a valid Widget: %v", err)
	}
	if err := c.Create(ctx, widget("too-small", 0)); err == nil || !strings.Contains(err.Error(), "spec.size") {
		t.Errorf("a Widget with size 0 got %v; want the schema's minimum enforced", err)
	}
	if err := unstructured.SetNestedField(w.Object, int64(4), "spec", "size"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, w); err == nil || !strings.Contains(err.Error(), "spec is immutable") {
		t.Errorf("changing spec got %v; want the CEL rule's message", err)
	}
}
