package kubetest

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNewJobPodNames(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("j", 60), Namespace: "ns", UID: "uid"}}
	if got, want := newJobPod(job, 12).GenerateName, strings.Repeat("j", 54)+"-12-"; got != want {
		t.Errorf("generateName for index 12 of a long name = %q; want %q", got, want)
	}
	job.Name = "short"
	if got := newJobPod(job, -1).GenerateName; got != "short-" {
		t.Errorf("generateName of a NonIndexed Job = %q; want %q", got, "short-")
	}
}
