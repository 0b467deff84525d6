package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/internal/kubetest"
)

// The API server itself enforces the CRD's validation: what reaches the
// controller is well-formed, and bad specs get a readable message.
func TestAPIServerValidatesIngestionRuns(t *testing.T) {
	cfg := kubetest.Start(t, "../../config/crd/bases")
	c := kubetest.Client(t, cfg, haulv1alpha1.AddToScheme)
	ctx := context.Background()

	valid := func(name string) *haulv1alpha1.IngestionRun {
		return &haulv1alpha1.IngestionRun{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: haulv1alpha1.IngestionRunSpec{
				Sources: haulv1alpha1.Sources{
					Vehicles:  []haulv1alpha1.Source{"2024/vehicles.json"},
					Shipments: []haulv1alpha1.Source{"https://example.com/shipments.json.gz"},
				},
				Input: &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: "drops", ReadOnly: true}},
				Database:   haulv1alpha1.DatabaseRef{SecretName: "haul-db"},
				MaxRejects: "2.5%",
			},
		}
	}

	run := valid("ok")
	if err := c.Create(ctx, run); err != nil {
		t.Fatalf("valid run refused: %v", err)
	}
	if run.Spec.Database.Key != "url" || ptr.Deref(run.Spec.Parallelism, 0) != 1 ||
		ptr.Deref(run.Spec.BackoffLimit, 0) != 3 || !ptr.Deref(run.Spec.Precalc, false) {
		t.Errorf("defaults not applied: %+v", run.Spec)
	}

	// The spec is immutable; the status is not.
	changed := run.DeepCopy()
	changed.Spec.Parallelism = ptr.To[int32](4)
	if err := c.Update(ctx, changed); err == nil || !strings.Contains(err.Error(), "spec is immutable") {
		t.Errorf("spec update: %v, want refused as immutable", err)
	}
	run.Status.Phase = haulv1alpha1.PhaseIngesting
	if err := c.Status().Update(ctx, run); err != nil {
		t.Errorf("status update refused: %v", err)
	}

	for _, tt := range []struct {
		name   string
		change func(*haulv1alpha1.IngestionRun)
		want   string
	}{
		{"no dataset", func(r *haulv1alpha1.IngestionRun) { r.Spec.Sources = haulv1alpha1.Sources{} },
			"at least one dataset needs sources"},
		{"path without input volume", func(r *haulv1alpha1.IngestionRun) { r.Spec.Input = nil },
			"input volume is required when a source is a path"},
		{"absolute path", func(r *haulv1alpha1.IngestionRun) {
			r.Spec.Sources.Vehicles = []haulv1alpha1.Source{"/etc/passwd"}
		}, "a source is an http(s) URL or a path inside the input volume"},
		{"path escaping the volume", func(r *haulv1alpha1.IngestionRun) {
			r.Spec.Sources.Vehicles = []haulv1alpha1.Source{"a/../../secrets"}
		}, "a source is an http(s) URL or a path inside the input volume"},
		{"bad maxRejects", func(r *haulv1alpha1.IngestionRun) { r.Spec.MaxRejects = "lots" }, "spec.maxRejects"},
		{"percentage above 100", func(r *haulv1alpha1.IngestionRun) { r.Spec.MaxRejects = "101%" }, "spec.maxRejects"},
		{"no database", func(r *haulv1alpha1.IngestionRun) { r.Spec.Database.SecretName = "" }, "spec.database.secretName"},
		{"zero parallelism", func(r *haulv1alpha1.IngestionRun) { r.Spec.Parallelism = ptr.To[int32](0) }, "spec.parallelism"},
		{"negative log cache", func(r *haulv1alpha1.IngestionRun) { r.Spec.LogCacheMB = ptr.To[int32](-1) }, "spec.logCacheMB"},
		{"log cache above 4 GiB", func(r *haulv1alpha1.IngestionRun) { r.Spec.LogCacheMB = ptr.To[int32](4097) }, "spec.logCacheMB"},
		{"rejects path escaping", func(r *haulv1alpha1.IngestionRun) {
			r.Spec.Rejects = &haulv1alpha1.RejectsTarget{Path: "../x",
				Volume: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
		}, "path is relative to the volume"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := valid("bad-" + strings.ReplaceAll(tt.name, " ", "-"))
			tt.change(r)
			err := c.Create(ctx, r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("create: %v, want refused mentioning %q", err, tt.want)
			}
		})
	}

	// URLs alone need no input volume.
	urls := valid("urls-only")
	urls.Spec.Input = nil
	urls.Spec.Sources = haulv1alpha1.Sources{Shipments: []haulv1alpha1.Source{"http://files/shipments.json"}}
	if err := c.Create(ctx, urls); err != nil {
		t.Errorf("URL-only run refused: %v", err)
	}
}
