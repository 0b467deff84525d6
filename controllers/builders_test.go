package controllers

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/internal/jobreport"
)

// Fixtures of the table tests: a run, its Jobs and their pods, built the
// way the API server, the Job controller and the kubelet would leave them.

const (
	testNamespace = "fleet"
	testRunUID    = types.UID("6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b")
	testUIDPrefix = "6f1c2" // the UID's start in Job names
)

// testEpoch is when the fixtures were created.
var testEpoch = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

type runWrapper struct{ haulv1alpha1.IngestionRun }

// makeRun is a run with no sources yet, reading paths from a PVC and
// loading into the haul-db Secret's url.
func makeRun(name string) *runWrapper {
	return &runWrapper{haulv1alpha1.IngestionRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: testNamespace, UID: testRunUID, Generation: 1,
			CreationTimestamp: metav1.NewTime(testEpoch),
		},
		Spec: haulv1alpha1.IngestionRunSpec{
			Input: &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: "drops", ReadOnly: true}},
			Database: haulv1alpha1.DatabaseRef{SecretName: "haul-db", Key: "url"},
		},
	}}
}

func (w *runWrapper) uid(uid types.UID) *runWrapper { w.UID = uid; return w }

func (w *runWrapper) vehicles(files ...haulv1alpha1.Source) *runWrapper {
	w.Spec.Sources.Vehicles = files
	return w
}

func (w *runWrapper) vehicleLogs(files ...haulv1alpha1.Source) *runWrapper {
	w.Spec.Sources.VehicleLogs = files
	return w
}

func (w *runWrapper) shipments(files ...haulv1alpha1.Source) *runWrapper {
	w.Spec.Sources.Shipments = files
	return w
}

// noPrecalc turns the aggregates' refresh off.
func (w *runWrapper) noPrecalc() *runWrapper { w.Spec.Precalc = ptr.To(false); return w }

func (w *runWrapper) database(secret, key string) *runWrapper {
	w.Spec.Database = haulv1alpha1.DatabaseRef{SecretName: secret, Key: key}
	return w
}

func (w *runWrapper) maxRejects(s string) *runWrapper { w.Spec.MaxRejects = s; return w }

func (w *runWrapper) ttl(seconds int32) *runWrapper {
	w.Spec.TTLSecondsAfterFinished = ptr.To(seconds)
	return w
}

// created moves the creation time by d from testEpoch.
func (w *runWrapper) created(d time.Duration) *runWrapper {
	w.CreationTimestamp = metav1.NewTime(testEpoch.Add(d))
	return w
}

// started has the run out of the queue and ingesting.
func (w *runWrapper) started() *runWrapper {
	w.Status.StartTime = ptr.To(metav1.NewTime(testEpoch.Add(time.Minute)))
	w.Status.Phase = haulv1alpha1.PhaseIngesting
	return w
}

func (w *runWrapper) phase(p haulv1alpha1.Phase) *runWrapper { w.Status.Phase = p; return w }

func (w *runWrapper) deleting() *runWrapper {
	w.DeletionTimestamp = ptr.To(metav1.NewTime(testEpoch.Add(time.Hour)))
	w.Finalizers = []string{"example.com/hold"}
	return w
}

// recorded is the dataset status an earlier pass wrote.
func (w *runWrapper) recorded(ds ...haulv1alpha1.DatasetStatus) *runWrapper {
	w.Status.Datasets = ds
	return w
}

func (w *runWrapper) obj() *haulv1alpha1.IngestionRun { return w.DeepCopy() }

type jobWrapper struct{ batchv1.Job }

// makeJob is run's Job of role as the controller names and owns it, with
// a UID of its own and no status yet (running).
func makeJob(run *haulv1alpha1.IngestionRun, role jobRole) *jobWrapper {
	return &jobWrapper{batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: jobName(run, role), Namespace: run.Namespace, UID: types.UID("job-" + string(role)),
			Labels:          jobLabels(run, role),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run, haulv1alpha1.GroupVersion.WithKind("IngestionRun"))},
		},
		Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(testEpoch.Add(time.Minute)))},
	}}
}

func (w *jobWrapper) completedIndexes(s string) *jobWrapper {
	w.Status.CompletedIndexes = s
	return w
}

func (w *jobWrapper) condition(typ batchv1.JobConditionType, reason, message string) *jobWrapper {
	w.Status.Conditions = append(w.Status.Conditions, batchv1.JobCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message,
	})
	return w
}

// complete is a Job the Job controller finished with success.
func (w *jobWrapper) complete() *jobWrapper {
	return w.condition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods").
		condition(batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
}

// failed is a Job the Job controller gave up on.
func (w *jobWrapper) failed(reason, message string) *jobWrapper {
	return w.condition(batchv1.JobFailureTarget, reason, message).condition(batchv1.JobFailed, reason, message)
}

func (w *jobWrapper) obj() *batchv1.Job { return w.DeepCopy() }

type podWrapper struct{ corev1.Pod }

// makePod is the pod of a Job's index, the attempt-th try (from 0; later
// tries are newer), pending.
func makePod(job *batchv1.Job, index, attempt int) *podWrapper {
	container := containerIngest
	if jobRole(job.Labels[LabelRole]) == rolePrecalc {
		container = containerPrecalc
	}
	return &podWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s-%d-%c", job.Name, index, 'a'+attempt),
			Namespace: job.Namespace,
			// Attempts a minute apart; indexes a second apart.
			CreationTimestamp: metav1.NewTime(testEpoch.Add(time.Duration(attempt)*time.Minute + time.Duration(index)*time.Second)),
			Labels:            maps.Clone(job.Labels),
			Annotations:       map[string]string{completionIndex: fmt.Sprint(index)},
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: "haul:test"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}}
}

func (w *podWrapper) running() *podWrapper {
	w.Status.Phase = corev1.PodRunning
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: w.Spec.Containers[0].Name, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}
	return w
}

// progress is the annotation a running `haul ingest --annotate-pod` keeps.
func (w *podWrapper) progress(p jobreport.Progress) *podWrapper {
	w.Annotations[jobreport.ProgressAnnotation] = progressJSON(p)
	return w
}

func progressJSON(p jobreport.Progress) string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// terminated ends the pod's container with exitCode and a termination
// message.
func (w *podWrapper) terminated(exitCode int32, message string) *podWrapper {
	w.Status.Phase = corev1.PodSucceeded
	reason := "Completed"
	if exitCode != 0 {
		w.Status.Phase, reason = corev1.PodFailed, "Error"
	}
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: w.Spec.Containers[0].Name,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, Reason: reason, Message: message,
		}},
	}}
	return w
}

// reported ends the pod with exitCode after writing s as its summary.
func (w *podWrapper) reported(exitCode int32, s jobreport.Summary) *podWrapper {
	return w.terminated(exitCode, encodeSummary(s))
}

func (w *podWrapper) obj() corev1.Pod { return *w.DeepCopy() }

func encodeSummary(s jobreport.Summary) string {
	b, err := jobreport.Encode(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// summary is what `haul ingest` reports for a file of run that succeeded.
func summary(run *haulv1alpha1.IngestionRun, ds haulv1alpha1.Dataset, index int, read, loaded, duplicates, rejected int64) jobreport.Summary {
	return jobreport.Summary{
		RunID: ingestRunID(run, ds, fmt.Sprint(index)), Dataset: string(ds), Status: "succeeded",
		Read: read, Loaded: loaded, Duplicates: duplicates, Rejected: rejected,
	}
}

// failedSummary is what `haul ingest` reports when it fails.
func failedSummary(run *haulv1alpha1.IngestionRun, ds haulv1alpha1.Dataset, index int, reason, message string) jobreport.Summary {
	s := summary(run, ds, index, 0, 0, 0, 0)
	s.Status, s.Reason, s.Message = "failed", reason, message
	return s
}

func pods(ps ...*podWrapper) []corev1.Pod {
	out := make([]corev1.Pod, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.obj())
	}
	return out
}

func withReasons(s jobreport.Summary, byReason map[string]int64) jobreport.Summary {
	s.RejectedByReason = byReason
	return s
}

func withCounts(s jobreport.Summary, read, loaded, rejected int64) jobreport.Summary {
	s.Read, s.Loaded, s.Rejected = read, loaded, rejected
	return s
}
