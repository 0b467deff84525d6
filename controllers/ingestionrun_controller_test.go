package controllers

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/internal/jobreport"
	"github.com/haul-dev/haul/internal/kubetest"
)

// The controller against a real API server. envtest runs no Job
// controller, kubelet or garbage collector: the tests play the first two
// (pods from a Job's template, their termination messages, the Job's
// status as the 1.37 API server accepts it) and check the owner references
// the third would follow. Every subtest has its own namespace, which
// enforces the restricted pod security standard on the pods made from our
// Jobs, and its own manager watching only that namespace.
func TestIngestionRunController(t *testing.T) {
	// HAUL_TEST_LOG=1 shows what the controller logs.
	if os.Getenv("HAUL_TEST_LOG") != "" {
		ctrl.SetLogger(funcr.New(func(prefix, args string) { log.Println(prefix, args) }, funcr.Options{Verbosity: 1}))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	cfg := kubetest.Start(t, "../config/crd/bases")
	c := kubetest.Client(t, cfg, haulv1alpha1.AddToScheme)
	k := &cluster{cfg: cfg, c: c}

	t.Run("success loads the datasets in order, then precalc", k.parallel(testSuccess))
	t.Run("a failed ingest Job fails the run", k.parallel(testIngestFails))
	t.Run("a long failure message is cut in conditions and events", k.parallel(testLongFailure))
	t.Run("a failed precalc Job fails the run", k.parallel(testPrecalcFails))
	t.Run("too many rejects fail the run", k.parallel(testTooManyRejects))
	t.Run("the spec is immutable", k.parallel(testSpecImmutable))
	t.Run("a finished run is deleted after its TTL", k.parallel(testTTL))
	t.Run("runs on one database queue", k.parallel(testQueue))
	t.Run("precalc disabled", k.parallel(testPrecalcDisabled))
	t.Run("a restarted controller picks up where it was", k.parallel(testRestart))
	t.Run("running pods report progress", k.parallel(testProgress))
	t.Run("a Job of the run's name it does not control fails the run", k.parallel(testJobNotControlled))
	t.Run("a Job the API server refuses fails the run", k.parallel(testJobInvalid))
}

// How long the controller and the API server get to reach a state.
const (
	waitTimeout  = 20 * time.Second
	pollInterval = 25 * time.Millisecond
)

// cluster is the control plane the subtests share.
type cluster struct {
	cfg *rest.Config
	c   client.Client
}

// parallel runs a subtest in parallel with the others, in a namespace of
// its own.
func (k *cluster) parallel(test func(t *testing.T, h *harness)) func(t *testing.T) {
	return func(t *testing.T) {
		t.Parallel()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "haul-test-",
			Labels: map[string]string{
				"pod-security.kubernetes.io/enforce":         "restricted",
				"pod-security.kubernetes.io/enforce-version": "latest",
			},
		}}
		if err := k.c.Create(context.Background(), ns); err != nil {
			t.Fatalf("create namespace: %v", err)
		}
		test(t, &harness{t: t, cfg: k.cfg, c: k.c, ns: ns.Name, ctx: t.Context()})
	}
}

// harness drives one subtest: it starts the controller, creates runs,
// plays the Job controller and the kubelet, and asserts through a direct
// client (never the manager's cache).
type harness struct {
	t   *testing.T
	cfg *rest.Config
	c   client.Client
	ns  string
	ctx context.Context
}

// controller is a running manager.
type controller struct {
	metrics *Metrics
	stop    func()
}

// startController runs the controller on the subtest's namespace until
// the test ends or stop is called.
func (h *harness) startController() *controller {
	h.t.Helper()
	metrics := NewMetrics(prometheus.NewRegistry())
	mgr, err := NewManager(h.cfg, ManagerOptions{
		MetricsAddr: "0", ProbeAddr: "0", Namespace: h.ns, SkipNameValidation: true,
		Reconciler: IngestionRunReconciler{
			Jobs: JobConfig{Image: "haul:test"}, MaxActivePerDatabase: 1, Metrics: metrics,
		},
	})
	if err != nil {
		h.t.Fatalf("new manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("manager: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return &controller{metrics: metrics, stop: stop}
}

// eventually polls check until it returns nil, failing the test with its
// last error after waitTimeout.
func (h *harness) eventually(what string, check func() error) {
	h.t.Helper()
	var err error
	if wait.PollUntilContextTimeout(h.ctx, pollInterval, waitTimeout, true, func(context.Context) (bool, error) {
		err = check()
		return err == nil, nil
	}) != nil {
		h.t.Fatalf("%s: not within %s: %v", what, waitTimeout, err)
	}
}

// consistently checks that check keeps returning nil for d.
func (h *harness) consistently(what string, d time.Duration, check func() error) {
	h.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(pollInterval) {
		if err := check(); err != nil {
			h.t.Fatalf("%s: %v", what, err)
		}
	}
}

// create creates a run built by makeRun in the subtest's namespace and
// returns it as the API server stored it (with its UID).
func (h *harness) create(w *runWrapper) *haulv1alpha1.IngestionRun {
	h.t.Helper()
	run := w.obj()
	run.ObjectMeta = metav1.ObjectMeta{Name: run.Name, Namespace: h.ns}
	run.Status = haulv1alpha1.IngestionRunStatus{}
	if err := h.c.Create(h.ctx, run); err != nil {
		h.t.Fatalf("create run %s: %v", run.Name, err)
	}
	return run
}

func (h *harness) get(name string) (*haulv1alpha1.IngestionRun, error) {
	var run haulv1alpha1.IngestionRun
	err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &run)
	return &run, err
}

// waitRun waits until the run satisfies check, and returns it.
func (h *harness) waitRun(name, what string, check func(*haulv1alpha1.IngestionRun) error) *haulv1alpha1.IngestionRun {
	h.t.Helper()
	var run *haulv1alpha1.IngestionRun
	h.eventually("run "+name+" "+what, func() error {
		var err error
		if run, err = h.get(name); err != nil {
			return err
		}
		return check(run)
	})
	return run
}

func (h *harness) waitPhase(name string, phase haulv1alpha1.Phase) *haulv1alpha1.IngestionRun {
	h.t.Helper()
	return h.waitRun(name, "is "+string(phase), func(run *haulv1alpha1.IngestionRun) error {
		if run.Status.Phase != phase {
			return fmt.Errorf("phase %q (reason %q, message %q)", run.Status.Phase, run.Status.Reason, run.Status.Message)
		}
		return nil
	})
}

// waitJob waits for the run's Job of role.
func (h *harness) waitJob(run *haulv1alpha1.IngestionRun, role jobRole) *batchv1.Job {
	h.t.Helper()
	var job batchv1.Job
	h.eventually("job "+string(role)+" of run "+run.Name+" exists", func() error {
		return h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: jobName(run, role)}, &job)
	})
	return &job
}

// jobNames lists the Jobs of the namespace.
func (h *harness) jobNames() []string {
	h.t.Helper()
	var jobs batchv1.JobList
	if err := h.c.List(h.ctx, &jobs, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("list jobs: %v", err)
	}
	var names []string
	for _, j := range jobs.Items {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	return names
}

func (h *harness) wantJobs(want ...string) {
	h.t.Helper()
	slices.Sort(want)
	if diff := cmp.Diff(want, h.jobNames(), cmpopts.EquateEmpty()); diff != "" {
		h.t.Fatalf("jobs (-want +got):\n%s", diff)
	}
}

// updateJobStatus changes a Job's status the way the Job controller does.
func (h *harness) updateJobStatus(job *batchv1.Job, change func(*batchv1.JobStatus)) {
	h.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := h.c.Get(h.ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return err
		}
		change(&job.Status)
		return h.c.Status().Update(h.ctx, job)
	})
	if err != nil {
		h.t.Fatalf("update status of job %s: %v", job.Name, err)
	}
}

func jobCondition(typ batchv1.JobConditionType, reason, message string) batchv1.JobCondition {
	now := metav1.Now()
	return batchv1.JobCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: now, LastTransitionTime: now,
	}
}

// startJob is the Job controller taking a Job on. The API server refuses
// to change the start time of a running Job, so a Job already started
// keeps it.
func (h *harness) startJob(job *batchv1.Job) {
	h.t.Helper()
	h.updateJobStatus(job, func(st *batchv1.JobStatus) {
		if st.StartTime == nil {
			st.StartTime = ptr.To(metav1.Now())
		}
		st.Active = ptr.Deref(job.Spec.Parallelism, 1)
		st.Ready = ptr.To[int32](0)
	})
}

// completeJob is the Job controller finding all of a Job's pods succeeded.
func (h *harness) completeJob(job *batchv1.Job) {
	h.t.Helper()
	n := ptr.Deref(job.Spec.Completions, 1)
	h.updateJobStatus(job, func(st *batchv1.JobStatus) {
		st.Active, st.Succeeded = 0, n
		if ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion {
			st.CompletedIndexes = indexRange(n)
		}
		st.Conditions = append(st.Conditions,
			jobCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods"))
	})
	h.updateJobStatus(job, func(st *batchv1.JobStatus) {
		st.CompletionTime = ptr.To(metav1.Now())
		st.Conditions = append(st.Conditions,
			jobCondition(batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods"))
	})
}

// failJob is the Job controller giving up on a Job after a pod failed:
// completed are the indexes that succeeded.
func (h *harness) failJob(job *batchv1.Job, completed, reason, message string) {
	h.t.Helper()
	h.updateJobStatus(job, func(st *batchv1.JobStatus) {
		st.Active, st.Failed = 0, 1
		st.Succeeded = countIndexes(completed)
		st.CompletedIndexes = completed
		st.Conditions = append(st.Conditions, jobCondition(batchv1.JobFailureTarget, reason, message))
	})
	h.updateJobStatus(job, func(st *batchv1.JobStatus) {
		st.Conditions = append(st.Conditions, jobCondition(batchv1.JobFailed, reason, message))
	})
}

func indexRange(n int32) string {
	if n == 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// createPod is the Job controller creating the pod of an index.
func (h *harness) createPod(job *batchv1.Job, index int) *corev1.Pod {
	h.t.Helper()
	tmpl := job.Spec.Template
	labels := maps.Clone(tmpl.Labels)
	labels[completionIndex] = fmt.Sprint(index)
	annotations := maps.Clone(tmpl.Annotations)
	annotations[completionIndex] = fmt.Sprint(index)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    fmt.Sprintf("%s-%d-", job.Name, index),
			Namespace:       job.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	if err := h.c.Create(h.ctx, pod); err != nil {
		h.t.Fatalf("create pod of job %s: %v", job.Name, err)
	}
	return pod
}

func (h *harness) updatePodStatus(pod *corev1.Pod, st corev1.PodStatus) {
	h.t.Helper()
	pod.Status = st
	if err := h.c.Status().Update(h.ctx, pod); err != nil {
		h.t.Fatalf("update status of pod %s: %v", pod.Name, err)
	}
}

// runPod is the kubelet starting a pod.
func (h *harness) runPod(pod *corev1.Pod) {
	h.t.Helper()
	h.updatePodStatus(pod, corev1.PodStatus{
		Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}},
	})
}

// endPod is the kubelet reporting a pod's container ended with exitCode
// and its termination message.
func (h *harness) endPod(pod *corev1.Pod, exitCode int32, message string) {
	h.t.Helper()
	phase, reason := corev1.PodSucceeded, "Completed"
	if exitCode != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	now := metav1.Now()
	h.updatePodStatus(pod, corev1.PodStatus{
		Phase: phase,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image, Started: ptr.To(false),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Reason: reason, Message: message, StartedAt: now, FinishedAt: now,
			}},
		}},
	})
}

// succeed runs a Job to success, its pod of index i reporting
// summaries[i] (precalc pods report nothing).
func (h *harness) succeed(job *batchv1.Job, summaries ...jobreport.Summary) {
	h.t.Helper()
	h.startJob(job)
	for i := range ptr.Deref(job.Spec.Completions, 1) {
		pod := h.createPod(job, int(i))
		msg := ""
		if int(i) < len(summaries) {
			msg = encodeSummary(summaries[i])
		}
		h.endPod(pod, 0, msg)
	}
	h.completeJob(job)
}

// events lists the events about the run as "type reason action
// [related]: note".
func (h *harness) events(run *haulv1alpha1.IngestionRun) ([]string, error) {
	var list eventsv1.EventList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		return nil, err
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.UID != run.UID {
			continue
		}
		related := ""
		if e.Related != nil {
			related = " " + e.Related.Kind + "/" + e.Related.Name
		}
		out = append(out, fmt.Sprintf("%s %s %s%s: %s", e.Type, e.Reason, e.Action, related, e.Note))
	}
	slices.Sort(out)
	return out, nil
}

func (h *harness) waitEvents(run *haulv1alpha1.IngestionRun, want ...string) {
	h.t.Helper()
	slices.Sort(want)
	h.eventually("events of run "+run.Name, func() error {
		got, err := h.events(run)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("(-want +got):\n%s", diff)
		}
		return nil
	})
}

// ownedBy is the owner reference every Job of run carries, so that the
// garbage collector deletes the Jobs with the run and waits for them
// (foreground deletion).
func ownedBy(run *haulv1alpha1.IngestionRun) []metav1.OwnerReference {
	return []metav1.OwnerReference{{
		APIVersion: "analytics.haul.dev/v1alpha1", Kind: "IngestionRun", Name: run.Name, UID: run.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

func wantCondition(run *haulv1alpha1.IngestionRun, typ string, status metav1.ConditionStatus, reason, message string) error {
	c := findCondition(run.Status.Conditions, typ)
	want := metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: run.Generation}
	if c == nil {
		return fmt.Errorf("no %s condition in %+v", typ, run.Status.Conditions)
	}
	got := *c
	got.LastTransitionTime = metav1.Time{}
	if got != want {
		return fmt.Errorf("%s condition = %+v, want %+v", typ, got, want)
	}
	return nil
}

// A sample drop: two vehicles files, a vehicle logs file, a shipments
// file, read from a PVC.
func sampleRun(name string) *runWrapper {
	return makeRun(name).
		vehicles("2024/05/vehicles-1.json", "https://drops.example.com/vehicles-2.ndjson.gz").
		vehicleLogs("2024/05/logs.ndjson").
		shipments("2024/05/shipments.json")
}

func testSuccess(t *testing.T, h *harness) {
	// The pods made from our Jobs pass the restricted pod security
	// standard, which the namespace does enforce.
	lax := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lax", Namespace: h.ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
	if err := h.c.Create(h.ctx, lax); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a pod without a security context got %v, want it refused by the restricted standard", err)
	}

	ctl := h.startController()
	run := h.create(sampleRun("fleet.may"))
	vehicles, logs, shipments, precalc := jobName(run, roleVehicles), jobName(run, roleVehicleLogs), jobName(run, roleShipments), jobName(run, rolePrecalc)

	job := h.waitJob(run, roleVehicles)
	h.startJob(job)
	// Once a pass has seen the vehicles Job, it waits for it: nothing else
	// is created.
	h.waitRun(run.Name, "reports its vehicles job", func(r *haulv1alpha1.IngestionRun) error {
		if len(r.Status.Datasets) != 3 || r.Status.Datasets[0].Job != vehicles {
			return fmt.Errorf("datasets %+v", r.Status.Datasets)
		}
		return nil
	})
	h.wantJobs(vehicles)
	if err := wantCondition(h.waitPhase(run.Name, haulv1alpha1.PhaseIngesting), haulv1alpha1.ConditionSucceeded,
		metav1.ConditionUnknown, "Ingesting", "the run is ingesting"); err != nil {
		t.Error(err)
	}

	h.succeed(job,
		withReasons(summary(run, haulv1alpha1.DatasetVehicles, 0, 120, 110, 6, 4), map[string]int64{"missing_field": 3, "bad_type": 1}),
		summary(run, haulv1alpha1.DatasetVehicles, 1, 80, 80, 0, 0))
	job = h.waitJob(run, roleVehicleLogs)
	h.wantJobs(vehicles, logs)
	h.succeed(job, summary(run, haulv1alpha1.DatasetVehicleLogs, 0, 1000, 990, 0, 10))
	job = h.waitJob(run, roleShipments)
	h.wantJobs(vehicles, logs, shipments)
	h.waitPhase(run.Name, haulv1alpha1.PhaseIngesting)
	h.succeed(job, summary(run, haulv1alpha1.DatasetShipments, 0, 50, 49, 1, 0))
	job = h.waitJob(run, rolePrecalc)
	h.wantJobs(vehicles, logs, shipments, precalc)
	h.waitPhase(run.Name, haulv1alpha1.PhasePrecalculating)
	h.succeed(job)

	got := h.waitPhase(run.Name, haulv1alpha1.PhaseSucceeded)
	if got.Status.StartTime == nil || got.Status.CompletionTime == nil || got.Status.CompletionTime.Before(got.Status.StartTime) {
		t.Errorf("start %v, completion %v: want both, in order", got.Status.StartTime, got.Status.CompletionTime)
	}
	want := haulv1alpha1.IngestionRunStatus{
		Phase:              haulv1alpha1.PhaseSucceeded,
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{
			cond(haulv1alpha1.ConditionQueued, metav1.ConditionFalse, ReasonStarted, "the run left the queue"),
			cond(haulv1alpha1.ConditionSucceeded, metav1.ConditionTrue, ReasonSucceeded, "the run succeeded"),
			cond(haulv1alpha1.ConditionIngested, metav1.ConditionTrue, ReasonIngested, "every dataset is loaded"),
			cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionTrue, ReasonPrecalculated, "the aggregates include the run"),
		},
		Datasets: []haulv1alpha1.DatasetStatus{
			{
				Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 2, Read: 200, Loaded: 190, Duplicates: 6, Rejected: 4,
				RejectedByReason: map[string]int64{"missing_field": 3, "bad_type": 1}, Job: vehicles,
			},
			{Name: haulv1alpha1.DatasetVehicleLogs, Files: 1, FilesDone: 1, Read: 1000, Loaded: 990, Rejected: 10, Job: logs},
			{Name: haulv1alpha1.DatasetShipments, Files: 1, FilesDone: 1, Read: 50, Loaded: 49, Duplicates: 1, Job: shipments},
		},
		Progress:   "100%",
		Loaded:     1229,
		Rejected:   14,
		PrecalcJob: precalc,
	}
	if diff := cmp.Diff(want, got.Status, ignoreTransitionTimes,
		cmpopts.IgnoreFields(haulv1alpha1.IngestionRunStatus{}, "StartTime", "CompletionTime")); diff != "" {
		t.Errorf("final status (-want +got):\n%s", diff)
	}

	// Every Job is the run's, for the garbage collector to delete with it.
	var jobs batchv1.JobList
	if err := h.c.List(h.ctx, &jobs, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Items {
		if diff := cmp.Diff(ownedBy(run), j.OwnerReferences); diff != "" {
			t.Errorf("owner references of job %s (-want +got):\n%s", j.Name, diff)
		}
	}

	created := func(job string) string {
		return "Normal JobCreated Create Job/" + job + ": created job " + job
	}
	h.waitEvents(run,
		"Normal Ingesting Advance: run is Ingesting",
		created(vehicles), created(logs), created(shipments), created(precalc),
		"Normal Precalculating Advance: run is Precalculating",
		"Normal Succeeded Advance: run is Succeeded",
	)
	if got := testutil.ToFloat64(ctl.metrics.finishedRuns.WithLabelValues("Succeeded", "")); got != 1 {
		t.Errorf("succeeded runs counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(ctl.metrics.records.WithLabelValues("loaded")); got != 1229 {
		t.Errorf("loaded records counted %v, want 1229", got)
	}
	// Without a TTL the run stays.
	h.consistently("run without a TTL stays", time.Second, func() error {
		_, err := h.get(run.Name)
		return err
	})
}

func testIngestFails(t *testing.T, h *harness) {
	ctl := h.startController()
	run := h.create(makeRun("bad-input").vehicles("v0.json", "v1.json").shipments("s0.json"))
	job := h.waitJob(run, roleVehicles)
	h.startJob(job)
	ok := h.createPod(job, 0)
	h.endPod(ok, 0, encodeSummary(summary(run, haulv1alpha1.DatasetVehicles, 0, 10, 10, 0, 0)))
	bad := h.createPod(job, 1)
	msg := "v1.json: line 7, byte 2048: unexpected end of JSON input"
	h.endPod(bad, 3, encodeSummary(withCounts(failedSummary(run, haulv1alpha1.DatasetVehicles, 1, jobreport.ReasonInputError, msg), 6, 6, 0)))
	h.failJob(job, "0", batchv1.JobReasonPodFailurePolicy,
		"Container ingest for pod "+h.ns+"/"+bad.Name+" failed with exit code 3 matching FailJob rule at index 0")

	got := h.waitPhase(run.Name, haulv1alpha1.PhaseFailed)
	wantMsg := string(run.UID) + "-vehicles-1 (pod " + bad.Name + "): " + msg
	if got.Status.Reason != jobreport.ReasonInputError || got.Status.Message != wantMsg {
		t.Errorf("run failed with %q: %q, want %q: %q", got.Status.Reason, got.Status.Message, jobreport.ReasonInputError, wantMsg)
	}
	for _, err := range []error{
		wantCondition(got, haulv1alpha1.ConditionSucceeded, metav1.ConditionFalse, jobreport.ReasonInputError, wantMsg),
		wantCondition(got, haulv1alpha1.ConditionIngested, metav1.ConditionFalse, jobreport.ReasonInputError, wantMsg),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	if got.Status.CompletionTime == nil {
		t.Error("a failed run has no completion time")
	}
	if d := got.Status.Datasets[0]; d.FilesDone != 1 || d.Read != 16 || d.Loaded != 16 {
		t.Errorf("vehicles status %+v, want 1 file done, 16 read and loaded", d)
	}
	// The shipments are never loaded.
	h.consistently("no Job after the failure", time.Second, func() error {
		if names := h.jobNames(); !slices.Equal(names, []string{jobName(run, roleVehicles)}) {
			return fmt.Errorf("jobs %v", names)
		}
		return nil
	})
	h.waitEvents(run,
		"Normal Ingesting Advance: run is Ingesting",
		"Normal JobCreated Create Job/"+job.Name+": created job "+job.Name,
		"Warning InputError Fail: "+wantMsg,
	)
	if got := testutil.ToFloat64(ctl.metrics.finishedRuns.WithLabelValues("Failed", jobreport.ReasonInputError)); got != 1 {
		t.Errorf("failed runs counted %v, want 1", got)
	}
}

func testLongFailure(t *testing.T, h *harness) {
	h.startController()
	run := h.create(makeRun("long-story").vehicles("v0.json"))
	job := h.waitJob(run, roleVehicles)
	h.startJob(job)
	pod := h.createPod(job, 0)
	msg := "v0.json: line 3, byte 99: unexpected character near " + strings.Repeat("{", 2000)
	h.endPod(pod, 3, encodeSummary(failedSummary(run, haulv1alpha1.DatasetVehicles, 0, jobreport.ReasonInputError, msg)))
	h.failJob(job, "", batchv1.JobReasonPodFailurePolicy, "exit code 3")

	got := h.waitPhase(run.Name, haulv1alpha1.PhaseFailed)
	wantMsg := string(run.UID) + "-vehicles-0 (pod " + pod.Name + "): " + msg
	if got.Status.Message != wantMsg {
		t.Errorf("run message %q, want all of %q", got.Status.Message, wantMsg)
	}
	// Conditions and event notes hold 1,024 bytes.
	cut := wantMsg[:1024-len("…")] + "…"
	if err := wantCondition(got, haulv1alpha1.ConditionSucceeded, metav1.ConditionFalse, jobreport.ReasonInputError, cut); err != nil {
		t.Error(err)
	}
	h.waitEvents(run,
		"Normal Ingesting Advance: run is Ingesting",
		"Normal JobCreated Create Job/"+job.Name+": created job "+job.Name,
		"Warning InputError Fail: "+cut,
	)
}

func testPrecalcFails(t *testing.T, h *harness) {
	h.startController()
	run := h.create(makeRun("precalc-fails").vehicles("v0.json"))
	h.succeed(h.waitJob(run, roleVehicles), summary(run, haulv1alpha1.DatasetVehicles, 0, 3, 3, 0, 0))
	job := h.waitJob(run, rolePrecalc)
	h.startJob(job)
	pod := h.createPod(job, 0)
	// Not a summary: the kubelet's tail of the log.
	h.endPod(pod, 1, "level=error msg=\"refresh failed\" err=\"day 2024-05-03: deadlock detected\"\n")
	h.failJob(job, "", batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")

	got := h.waitPhase(run.Name, haulv1alpha1.PhaseFailed)
	wantMsg := "pod " + pod.Name + " exited 1: level=error msg=\"refresh failed\" err=\"day 2024-05-03: deadlock detected\""
	if got.Status.Reason != ReasonPrecalcFailed || got.Status.Message != wantMsg {
		t.Errorf("run failed with %q: %q, want %q: %q", got.Status.Reason, got.Status.Message, ReasonPrecalcFailed, wantMsg)
	}
	for _, err := range []error{
		wantCondition(got, haulv1alpha1.ConditionIngested, metav1.ConditionTrue, ReasonIngested, "every dataset is loaded"),
		wantCondition(got, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalcFailed, wantMsg),
		wantCondition(got, haulv1alpha1.ConditionSucceeded, metav1.ConditionFalse, ReasonPrecalcFailed, wantMsg),
	} {
		if err != nil {
			t.Error(err)
		}
	}
}

func testTooManyRejects(t *testing.T, h *harness) {
	h.startController()
	w := makeRun("rejects").vehicles("v0.json", "v1.json").maxRejects("10")
	w.Spec.Parallelism = ptr.To[int32](2)
	run := h.create(w)
	job := h.waitJob(run, roleVehicles)
	if !slices.Contains(job.Spec.Template.Spec.Containers[0].Args, "--max-rejects=10") {
		t.Errorf("ingest args %q lack --max-rejects=10", job.Spec.Template.Spec.Containers[0].Args)
	}
	if p := ptr.Deref(job.Spec.Parallelism, 0); p != 2 {
		t.Errorf("parallelism %d, want 2", p)
	}
	h.startJob(job)
	first, second := h.createPod(job, 0), h.createPod(job, 1)
	h.runPod(first)
	h.runPod(second)
	h.endPod(first, 0, encodeSummary(withReasons(summary(run, haulv1alpha1.DatasetVehicles, 0, 500, 497, 0, 3), map[string]int64{"bad_type": 3})))
	msg := "11 rejects, more than --max-rejects=10, at v1.json line 912"
	h.endPod(second, 3, encodeSummary(withReasons(withCounts(
		failedSummary(run, haulv1alpha1.DatasetVehicles, 1, jobreport.ReasonTooManyRejects, msg), 300, 289, 11),
		map[string]int64{"bad_type": 2, "unknown_vehicle": 9})))
	h.failJob(job, "0", batchv1.JobReasonPodFailurePolicy,
		"Container ingest for pod "+h.ns+"/"+second.Name+" failed with exit code 3 matching FailJob rule at index 0")

	got := h.waitPhase(run.Name, haulv1alpha1.PhaseFailed)
	wantMsg := string(run.UID) + "-vehicles-1 (pod " + second.Name + "): " + msg
	if got.Status.Reason != jobreport.ReasonTooManyRejects || got.Status.Message != wantMsg {
		t.Errorf("run failed with %q: %q, want %q: %q", got.Status.Reason, got.Status.Message, jobreport.ReasonTooManyRejects, wantMsg)
	}
	wantDatasets := []haulv1alpha1.DatasetStatus{{
		Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 1, Read: 800, Loaded: 786, Rejected: 14,
		RejectedByReason: map[string]int64{"bad_type": 5, "unknown_vehicle": 9}, Job: job.Name,
	}}
	if diff := cmp.Diff(wantDatasets, got.Status.Datasets); diff != "" {
		t.Errorf("datasets (-want +got):\n%s", diff)
	}
	if got.Status.Rejected != 14 || got.Status.Loaded != 786 {
		t.Errorf("run loaded %d, rejected %d; want 786, 14", got.Status.Loaded, got.Status.Rejected)
	}
}

func testSpecImmutable(t *testing.T, h *harness) {
	run := h.create(makeRun("fixed").vehicles("v0.json"))
	changed := run.DeepCopy()
	changed.Spec.Sources.Vehicles = append(changed.Spec.Sources.Vehicles, "v1.json")
	err := h.c.Update(h.ctx, changed)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec is immutable: create a new IngestionRun") {
		t.Fatalf("changing the sources got %v, want the immutability rule's message", err)
	}
	// Labels may change.
	changed = run.DeepCopy()
	changed.Labels = map[string]string{"team": "fleet"}
	if err := h.c.Update(h.ctx, changed); err != nil {
		t.Errorf("changing labels: %v", err)
	}
	stored, err := h.get(run.Name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(run.Spec, stored.Spec); diff != "" {
		t.Errorf("spec changed (-before +after):\n%s", diff)
	}
}

func testTTL(t *testing.T, h *harness) {
	h.startController()
	run := h.create(makeRun("short-lived").vehicles("v0.json").noPrecalc().ttl(2))
	h.succeed(h.waitJob(run, roleVehicles), summary(run, haulv1alpha1.DatasetVehicles, 0, 1, 1, 0, 0))
	done := h.waitPhase(run.Name, haulv1alpha1.PhaseSucceeded)
	h.eventually("run deleted after its TTL", func() error {
		_, err := h.get(run.Name)
		if err == nil {
			return errors.New("the run is still there")
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if gone := time.Now(); gone.Before(done.Status.CompletionTime.Add(2 * time.Second)) {
		t.Errorf("run deleted at %s, before its completion %s and TTL 2s", gone, done.Status.CompletionTime)
	}
	// The garbage collector (not in envtest) takes its Jobs.
	job := h.waitJob(run, roleVehicles)
	if diff := cmp.Diff(ownedBy(run), job.OwnerReferences); diff != "" {
		t.Errorf("owner references of job %s (-want +got):\n%s", job.Name, diff)
	}
}

func testQueue(t *testing.T, h *harness) {
	h.startController()
	first := h.create(makeRun("a-first").vehicles("v0.json").noPrecalc().database("shared-db", ""))
	second := h.create(makeRun("b-second").vehicles("v0.json").noPrecalc().database("shared-db", ""))
	other := h.create(makeRun("c-elsewhere").vehicles("v0.json").noPrecalc().database("other-db", ""))

	job := h.waitJob(first, roleVehicles)
	h.waitJob(other, roleVehicles)
	queued := h.waitPhase(second.Name, haulv1alpha1.PhaseQueued)
	if queued.Status.QueuedBehind != "a-first" || queued.Status.StartTime != nil {
		t.Errorf("queued run: behind %q, started %v; want behind a-first, not started", queued.Status.QueuedBehind, queued.Status.StartTime)
	}
	wait := "waiting for run a-first on database secret shared-db/url"
	for _, err := range []error{
		wantCondition(queued, haulv1alpha1.ConditionQueued, metav1.ConditionTrue, ReasonQueued, wait),
		wantCondition(queued, haulv1alpha1.ConditionSucceeded, metav1.ConditionUnknown, "Queued", wait),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	h.waitEvents(queued, "Normal Queued Queue: waiting for run a-first")
	h.consistently("the queued run has no Job", 500*time.Millisecond, func() error {
		if names := h.jobNames(); !slices.Equal(names, []string{jobName(first, roleVehicles), jobName(other, roleVehicles)}) {
			return fmt.Errorf("jobs %v", names)
		}
		return nil
	})

	h.succeed(job, summary(first, haulv1alpha1.DatasetVehicles, 0, 1, 1, 0, 0))
	h.waitPhase(first.Name, haulv1alpha1.PhaseSucceeded)
	h.waitJob(second, roleVehicles)
	started := h.waitPhase(second.Name, haulv1alpha1.PhaseIngesting)
	if started.Status.QueuedBehind != "" || started.Status.StartTime == nil {
		t.Errorf("started run: behind %q, started %v; want behind nothing, started", started.Status.QueuedBehind, started.Status.StartTime)
	}
	if err := wantCondition(started, haulv1alpha1.ConditionQueued, metav1.ConditionFalse, ReasonStarted, "the run left the queue"); err != nil {
		t.Error(err)
	}
}

func testPrecalcDisabled(t *testing.T, h *harness) {
	h.startController()
	run := h.create(makeRun("load-only").vehicles("v0.json").noPrecalc())
	h.succeed(h.waitJob(run, roleVehicles), summary(run, haulv1alpha1.DatasetVehicles, 0, 9, 8, 0, 1))
	got := h.waitPhase(run.Name, haulv1alpha1.PhaseSucceeded)
	for _, err := range []error{
		wantCondition(got, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalcDisabled, "spec.precalc is false"),
		wantCondition(got, haulv1alpha1.ConditionSucceeded, metav1.ConditionTrue, ReasonSucceeded, "the run succeeded"),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	if got.Status.PrecalcJob != "" || got.Status.Loaded != 8 || got.Status.Rejected != 1 || got.Status.Progress != "100%" {
		t.Errorf("status %+v: want no precalc job, 8 loaded, 1 rejected, 100%%", got.Status)
	}
	h.wantJobs(jobName(run, roleVehicles))
}

func testRestart(t *testing.T, h *harness) {
	ctl := h.startController()
	run := h.create(makeRun("restarted").vehicles("v0.json").shipments("s0.json"))
	h.succeed(h.waitJob(run, roleVehicles), summary(run, haulv1alpha1.DatasetVehicles, 0, 5, 5, 0, 0))
	shipments := h.waitJob(run, roleShipments)
	h.waitRun(run.Name, "reports its shipments job", func(r *haulv1alpha1.IngestionRun) error {
		if len(r.Status.Datasets) != 2 || r.Status.Datasets[1].Job != shipments.Name {
			return fmt.Errorf("datasets %+v", r.Status.Datasets)
		}
		return nil
	})
	ctl.stop()
	uids := map[string]string{}
	for _, role := range []jobRole{roleVehicles, roleShipments} {
		j := h.waitJob(run, role)
		uids[j.Name] = string(j.UID)
	}

	// While no controller runs, the shipments load.
	h.succeed(shipments, summary(run, haulv1alpha1.DatasetShipments, 0, 7, 6, 1, 0))
	h.startController()
	h.succeed(h.waitJob(run, rolePrecalc))
	got := h.waitPhase(run.Name, haulv1alpha1.PhaseSucceeded)

	h.wantJobs(jobName(run, roleVehicles), jobName(run, roleShipments), jobName(run, rolePrecalc))
	for name, uid := range uids {
		var j batchv1.Job
		if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &j); err != nil || string(j.UID) != uid {
			t.Errorf("job %s: uid %s (%v), want the one from before the restart, %s", name, j.UID, err, uid)
		}
	}
	wantDatasets := []haulv1alpha1.DatasetStatus{
		{Name: haulv1alpha1.DatasetVehicles, Files: 1, FilesDone: 1, Read: 5, Loaded: 5, Job: jobName(run, roleVehicles)},
		{Name: haulv1alpha1.DatasetShipments, Files: 1, FilesDone: 1, Read: 7, Loaded: 6, Duplicates: 1, Job: jobName(run, roleShipments)},
	}
	if diff := cmp.Diff(wantDatasets, got.Status.Datasets); diff != "" {
		t.Errorf("datasets (-want +got):\n%s", diff)
	}
}

func testProgress(t *testing.T, h *harness) {
	h.startController()
	run := h.create(makeRun("in-progress").vehicles("v0.json", "v1.json"))
	job := h.waitJob(run, roleVehicles)
	h.startJob(job)
	pod := h.createPod(job, 0)
	h.runPod(pod)
	h.createPod(job, 1) // pending: no progress yet

	annotate := func(p jobreport.Progress) {
		t.Helper()
		patch := client.MergeFrom(pod.DeepCopy())
		pod.Annotations[jobreport.ProgressAnnotation] = progressJSON(p)
		if err := h.c.Patch(h.ctx, pod, patch); err != nil {
			t.Fatalf("annotate pod: %v", err)
		}
	}
	wantProgress := func(progress string, read, loaded, rejected int64) {
		t.Helper()
		h.waitRun(run.Name, "is "+progress+" done", func(r *haulv1alpha1.IngestionRun) error {
			want := []haulv1alpha1.DatasetStatus{{
				Name: haulv1alpha1.DatasetVehicles, Files: 2, Read: read, Loaded: loaded, Rejected: rejected, Job: job.Name,
			}}
			if r.Status.Progress != progress {
				return fmt.Errorf("progress %q, want %q", r.Status.Progress, progress)
			}
			if diff := cmp.Diff(want, r.Status.Datasets); diff != "" {
				return fmt.Errorf("datasets (-want +got):\n%s", diff)
			}
			if r.Status.Loaded != loaded || r.Status.Rejected != rejected {
				return fmt.Errorf("loaded %d, rejected %d", r.Status.Loaded, r.Status.Rejected)
			}
			return wantCondition(r, haulv1alpha1.ConditionIngested, metav1.ConditionFalse, ReasonIngesting, "loading "+progress)
		})
	}
	annotate(jobreport.Progress{BytesRead: 50, BytesTotal: 100, Read: 500, Loaded: 490, Rejected: 10})
	wantProgress("25%", 500, 490, 10)
	annotate(jobreport.Progress{BytesRead: 90, BytesTotal: 100, Read: 900, Loaded: 880, Rejected: 20})
	wantProgress("45%", 900, 880, 20)
}

func testJobNotControlled(t *testing.T, h *harness) {
	// The run and, under its Job's name, someone else's Job exist before
	// the controller starts.
	run := h.create(makeRun("squatted").vehicles("v0.json"))
	foreign := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobName(run, roleVehicles), Namespace: h.ns, Labels: map[string]string{"team": "other"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
		}}},
	}
	if err := h.c.Create(h.ctx, foreign); err != nil {
		t.Fatal(err)
	}
	h.startController()

	got := h.waitPhase(run.Name, haulv1alpha1.PhaseFailed)
	wantMsg := "job " + foreign.Name + " exists and is not controlled by this run"
	if got.Status.Reason != ReasonJobNotControlled || got.Status.Message != wantMsg {
		t.Errorf("run failed with %q: %q, want %q: %q", got.Status.Reason, got.Status.Message, ReasonJobNotControlled, wantMsg)
	}
	var j batchv1.Job
	if err := h.c.Get(h.ctx, client.ObjectKeyFromObject(foreign), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.OwnerReferences) != 0 || !maps.Equal(j.Labels, map[string]string{"team": "other"}) || j.UID != foreign.UID {
		t.Errorf("the foreign job was adopted or changed: owners %+v, labels %v", j.OwnerReferences, j.Labels)
	}
	h.wantJobs(foreign.Name)
	h.waitEvents(got,
		"Normal Ingesting Advance: run is Ingesting",
		"Warning JobNotControlled Fail: "+wantMsg,
	)
}

func testJobInvalid(t *testing.T, h *harness) {
	// The CRD takes any resources; the Job's validation refuses requests
	// above limits.
	w := makeRun("greedy").vehicles("v0.json")
	w.Spec.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
	}
	run := h.create(w)
	h.startController()

	got := h.waitPhase(run.Name, haulv1alpha1.PhaseFailed)
	if got.Status.Reason != ReasonJobInvalid || !strings.Contains(got.Status.Message, "must be less than or equal to cpu limit") {
		t.Errorf("run failed with %q: %q; want %s naming the limit", got.Status.Reason, got.Status.Message, ReasonJobInvalid)
	}
	var jobs batchv1.JobList
	if err := h.c.List(h.ctx, &jobs, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Errorf("%d jobs exist, want none", len(jobs.Items))
	}
}
