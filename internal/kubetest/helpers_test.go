package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haul-dev/haul/internal/testutil"
)

const jobTimeout = 60 * time.Second

// shJob is a Job whose one container runs script with sh -c, args being $1...
func shJob(ns, name, script string, args ...string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name:    "work",
					Image:   "haul:test",
					Command: []string{"sh", "-c", script, "sh"},
					Args:    args,
				}},
			}},
		},
	}
}

// withClaim mounts the PersistentVolumeClaim claim at mountPath.
func withClaim(job *batchv1.Job, volume, mountPath, claim string) {
	spec := &job.Spec.Template.Spec
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
	}})
	spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: volume, MountPath: mountPath})
}

func namespace(t *testing.T, c client.Client, name string) string {
	t.Helper()
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return name
}

func create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	return string(testutil.ReadFile(t, filepath.Join(dir, name)))
}

// waitFinished waits for the Job's Complete or Failed condition.
func waitFinished(t *testing.T, c client.Client, job *batchv1.Job) *batchv1.Job {
	t.Helper()
	got := &batchv1.Job{}
	poll(t, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, err
		}
		return jobFinished(got), nil
	}, func() string {
		return fmt.Sprintf("job %s/%s to finish; its status: %+v", job.Namespace, job.Name, got.Status)
	})
	return got
}

// waitPod waits for a Pod of the Job to satisfy ok.
func waitPod(t *testing.T, c client.Client, job *batchv1.Job, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var found *corev1.Pod
	poll(t, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
			return false, err
		}
		for i := range pods.Items {
			if ok(&pods.Items[i]) {
				found = &pods.Items[i]
				return true, nil
			}
		}
		return false, nil
	}, func() string { return fmt.Sprintf("a pod of job %s/%s", job.Namespace, job.Name) })
	return found
}

// poll calls done every 50ms until it reports true, failing the test when
// it returns an error or after jobTimeout.
func poll(t *testing.T, done func(context.Context) (bool, error), what func() string) {
	t.Helper()
	var failed error
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, jobTimeout, true, func(ctx context.Context) (bool, error) {
		ok, err := done(ctx)
		failed = err
		return ok, err
	})
	switch {
	case failed != nil:
		t.Fatalf("wait for %s: %v", what(), failed)
	case err != nil:
		t.Fatalf("gave up after %v waiting for %s", jobTimeout, what())
	}
}

// byExitCode returns the first Pod whose container exited with code, or a
// Pod with no status.
func byExitCode(pods []corev1.Pod, code int32) corev1.Pod {
	for _, pod := range pods {
		for _, s := range pod.Status.ContainerStatuses {
			if s.State.Terminated != nil && s.State.Terminated.ExitCode == code {
				return pod
			}
		}
	}
	return corev1.Pod{}
}

// onlyPod returns the Job's one pod, failing the test if it has another number.
func onlyPod(t *testing.T, c client.Client, job *batchv1.Job) corev1.Pod {
	t.Helper()
	pods := podsOf(t, c, job)
	if len(pods) != 1 {
		t.Fatalf("got %d pods, want 1", len(pods))
	}
	return pods[0]
}

// podsOf returns the Pods of the Job, by completion index and then by
// creation.
func podsOf(t *testing.T, c client.Client, job *batchv1.Job) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := c.List(t.Context(), &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.ControllerUidLabel: string(job.UID)}); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(pods.Items, func(a, b corev1.Pod) int {
		ia, _ := strconv.Atoi(a.Annotations[batchv1.JobCompletionIndexAnnotation])
		ib, _ := strconv.Atoi(b.Annotations[batchv1.JobCompletionIndexAnnotation])
		if ia != ib {
			return ia - ib
		}
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(string(a.UID), string(b.UID))
	})
	return pods.Items
}

// wantStatus checks the counters of a finished Job, and its conditions: the
// interim one (SuccessCriteriaMet or FailureTarget) and then finished, both
// with reason and message.
func wantStatus(t *testing.T, job *batchv1.Job, counters batchv1.JobStatus, finished batchv1.JobConditionType, reason, message string) {
	t.Helper()
	s := job.Status
	got := batchv1.JobStatus{
		Succeeded:        s.Succeeded,
		Failed:           s.Failed,
		Active:           s.Active,
		Ready:            s.Ready,
		Terminating:      s.Terminating,
		CompletedIndexes: s.CompletedIndexes,
	}
	counters.Ready, counters.Terminating = ptr.To[int32](0), ptr.To[int32](0)
	if diff := cmp.Diff(counters, got); diff != "" {
		t.Errorf("job %s counters (-want +got):\n%s", job.Name, diff)
	}
	if u := s.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("job %s has uncounted pods %+v", job.Name, u)
	}
	interim := batchv1.JobFailureTarget
	if finished == batchv1.JobComplete {
		interim = batchv1.JobSuccessCriteriaMet
	}
	type condition struct {
		Type            batchv1.JobConditionType
		Status          corev1.ConditionStatus
		Reason, Message string
	}
	want := []condition{{interim, corev1.ConditionTrue, reason, message}, {finished, corev1.ConditionTrue, reason, message}}
	var conditions []condition
	for _, c := range s.Conditions {
		conditions = append(conditions, condition{c.Type, c.Status, c.Reason, c.Message})
	}
	if diff := cmp.Diff(want, conditions); diff != "" {
		t.Errorf("job %s conditions (-want +got):\n%s", job.Name, diff)
	}
	if s.StartTime == nil {
		t.Errorf("job %s has no startTime", job.Name)
	}
	switch {
	case finished == batchv1.JobComplete && (s.CompletionTime == nil || s.CompletionTime.Before(s.StartTime)):
		t.Errorf("complete job %s has completionTime %v, startTime %v", job.Name, s.CompletionTime, s.StartTime)
	case finished == batchv1.JobFailed && s.CompletionTime != nil:
		t.Errorf("failed job %s has completionTime %v", job.Name, s.CompletionTime)
	}
}

// wantTerminated checks how the Pod's one container ended.
func wantTerminated(t *testing.T, pod corev1.Pod, phase corev1.PodPhase, exitCode int32, reason, message string) {
	t.Helper()
	if pod.Status.Phase != phase {
		t.Errorf("pod %s is %s; want %s", pod.Name, pod.Status.Phase, phase)
	}
	if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("pod %s has container statuses %+v; want one terminated", pod.Name, pod.Status.ContainerStatuses)
		return
	}
	term := pod.Status.ContainerStatuses[0].State.Terminated
	type ending struct {
		ExitCode        int32
		Reason, Message string
	}
	if diff := cmp.Diff(ending{exitCode, reason, message}, ending{term.ExitCode, term.Reason, term.Message}); diff != "" {
		t.Errorf("pod %s container ended (-want +got):\n%s", pod.Name, diff)
	}
	if term.FinishedAt.Before(&term.StartedAt) || pod.Status.StartTime == nil {
		t.Errorf("pod %s: container started %v, finished %v; pod started %v", pod.Name, term.StartedAt, term.FinishedAt, pod.Status.StartTime)
	}
}
