package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/haul-dev/haul/internal/jobreport"
	"github.com/haul-dev/haul/internal/kubetest"
)

// jobPodsNamespace is where config/rbac puts the jobs' service account.
const jobPodsNamespace = "haul-system"

// TestJobPodsPatchOnlyTheirOwnProgress: with config/rbac's jobs account and
// policy on a real kube-apiserver, a Job pod's identity (a token bound to its
// pod, as the kubelet projects it) may patch its own pod's progress
// annotation, and nothing else: not another pod, not its own spec, labels or
// other annotations.
func TestJobPodsPatchOnlyTheirOwnProgress(t *testing.T) {
	cfg := kubetest.Start(t)
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := kubetest.Client(t, cfg)
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: jobPodsNamespace}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, o := range manifests(t, "../../config/rbac") {
		if strings.HasPrefix(o.GetName(), "haul-jobs") {
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
			}
			applied++
		}
	}
	if applied != 5 { // account, role, binding, policy, policy binding
		t.Fatalf("config/rbac has %d haul-jobs objects, want 5", applied)
	}
	other := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "haul-controller", Namespace: jobPodsNamespace}}
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	pod := func(name, account string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: jobPodsNamespace,
				Labels: map[string]string{"app": "haul"}, Annotations: map[string]string{"note": "kept"}},
			Spec: corev1.PodSpec{ServiceAccountName: account, ActiveDeadlineSeconds: ptr.To[int64](3600),
				Containers: []corev1.Container{{Name: "haul", Image: "haul:dev"}}},
		}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mine, sibling, controller := pod("ingest-0", "haul-jobs"), pod("ingest-1", "haul-jobs"), pod("controller", "haul-controller")

	// The token the kubelet would mount in ingest-0.
	tr, err := admin.CoreV1().ServiceAccounts(jobPodsNamespace).CreateToken(ctx, "haul-jobs", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: mine.Name, UID: mine.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podCfg := rest.AnonymousClientConfig(cfg)
	podCfg.BearerToken = tr.Status.Token
	asPod, err := kubernetes.NewForConfig(podCfg)
	if err != nil {
		t.Fatal(err)
	}
	who, err := asPod.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := who.Status.UserInfo.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != mine.Name {
		t.Fatalf("the bound token's identity %+v lacks the pod-name claim %s", who.Status.UserInfo, mine.Name)
	}

	patch := func(name, patch string) error {
		_, err := asPod.CoreV1().Pods(jobPodsNamespace).Patch(ctx, name, types.MergePatchType, []byte(patch),
			metav1.PatchOptions{FieldManager: "haul-ingest"})
		return err
	}
	progress := func(n int) string {
		return fmt.Sprintf(`{"metadata":{"annotations":{%q:"{\"read\":%d}"}}}`, jobreport.ProgressAnnotation, n)
	}
	// The policy is in force once the API server has loaded it.
	if wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		refused := patch(sibling.Name, progress(0)) != nil
		if !refused {
			undo := `{"metadata":{"annotations":{"` + jobreport.ProgressAnnotation + `":null}}}`
			if _, err := admin.CoreV1().Pods(jobPodsNamespace).Patch(ctx, sibling.Name, types.MergePatchType, []byte(undo), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return refused, nil //nolint:nilerr // a refused patch is what this waits for
	}) != nil {
		t.Fatal("a Job pod patched another pod: the policy is not in force")
	}

	if err := patch(mine.Name, progress(1)); err != nil {
		t.Errorf("a Job pod's own progress: %v", err)
	}
	for _, c := range []struct{ what, pod, patch string }{
		{"another Job pod's progress", sibling.Name, progress(2)},
		{"the controller's pod's progress", controller.Name, progress(2)},
		{"the controller's pod's labels", controller.Name, `{"metadata":{"labels":{"app":"mine"}}}`},
		{"its own spec", mine.Name, `{"spec":{"activeDeadlineSeconds":60}}`},
		{"its own labels", mine.Name, `{"metadata":{"labels":{"app":"other"}}}`},
		{"another annotation of its own", mine.Name, `{"metadata":{"annotations":{"note":"changed"}}}`},
		{"removing an annotation of its own", mine.Name, `{"metadata":{"annotations":{"note":null}}}`},
		{"its own finalizers", mine.Name, `{"metadata":{"finalizers":["haul.dev/keep"]}}`},
	} {
		if err := patch(c.pod, c.patch); err == nil {
			t.Errorf("a Job pod patched %s", c.what)
		}
	}
	if err := asPod.CoreV1().Pods(jobPodsNamespace).Delete(ctx, controller.Name, metav1.DeleteOptions{}); err == nil {
		t.Error("a Job pod deleted the controller's pod")
	}
	got, err := admin.CoreV1().Pods(jobPodsNamespace).Get(context.WithoutCancel(ctx), mine.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[jobreport.ProgressAnnotation] != `{"read":1}` || got.Annotations["note"] != "kept" ||
		got.Labels["app"] != "haul" || *got.Spec.ActiveDeadlineSeconds != 3600 {
		t.Errorf("the Job pod after the patches: annotations %v, labels %v, activeDeadlineSeconds %d",
			got.Annotations, got.Labels, *got.Spec.ActiveDeadlineSeconds)
	}
}
