package kubetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// JobRunner plays the two parts of a cluster that envtest lacks for batch/v1
// Jobs, the Job controller and the kubelet, so that a test can run the Jobs an
// operator creates. For every Job in the API server it creates the Pods the
// Job controller would, runs each Pod's container command, exactly as written
// in the Pod template, as a local process, and writes the Pod status and the
// Job status as the kubelet and the Job controller of Kubernetes 1.37 would.
//
// The Job controller's part covers NonIndexed and Indexed Jobs, completions
// and parallelism (the lowest pending index first), backoffLimit,
// activeDeadlineSeconds, podFailurePolicy (FailJob, Ignore and Count; FailIndex
// counts like Count) and podReplacementPolicy, with the conditions the API
// server requires (SuccessCriteriaMet then Complete, FailureTarget then
// Failed). Pods are named, labelled, annotated and owned as the Job controller
// does, but without its tracking finalizer; there is no garbage collector, so
// Pods stay after their Job ends or is deleted. It does not implement
// suspend (a suspended Job is left alone), backoffLimitPerIndex,
// maxFailedIndexes, successPolicy, the delay between retries, or removing
// surplus Pods after parallelism shrinks.
//
// The kubelet's part runs Pods with one container and a command (no init
// containers: the image's entrypoint is unknown). It resolves the env as the
// kubelet does (value with $(VAR) references, secretKeyRef, configMapKeyRef,
// fieldRef, envFrom), expands $(VAR) in command and args, and maps each
// volume mount to a host folder (see Volume): a command or arg that is a
// mountPath or lies under one is rewritten to the host path, as is one equal
// to the terminationMessagePath (default /dev/termination-log), which becomes
// a file per Pod; workingDir is rewritten the same way, and otherwise lies in
// a scratch folder per Pod. The process gets only the resolved env, Env, and
// PATH and HOME of the test process. restartPolicy OnFailure restarts the
// process in the same Pod. Pods have no node, so deleting one kills its
// process and removes it at once.
//
// Run it with Run or Start. Set the fields before, and do not change them
// while it runs.
type JobRunner struct {
	// Client reads Jobs, Pods, Secrets and ConfigMaps and writes Pods and the
	// status of Jobs. It must read straight from the API server (client.New,
	// not a manager's cache, whose stale reads would create Pods twice), with
	// a scheme that has corev1 and batchv1, like client-go's scheme.Scheme
	// (client.New's default).
	Client client.Client
	// Commands maps a container's command[0] as written in the Pod template
	// (after $(VAR) expansion), e.g. "haul", to the local executable run in
	// its place; argv[0] stays as written. A command[0] that is not in the
	// map fails the Pod with a StartError naming it, unless it lies under a
	// volume mount, in which case the file in the host folder is run.
	Commands map[string]string
	// Volume returns the host folder standing in for a volume the container
	// mounts, e.g. a folder per PersistentVolumeClaim name. It may be called
	// from several goroutines at once, once per volume and Pod. An error
	// fails the Pod. An empty path leaves the volume to the built-in
	// handling: an emptyDir gets a fresh folder per Pod, a secret or
	// configMap volume is written out as files as the kubelet would; any
	// other volume fails the Pod. A nil Volume is the built-in handling alone.
	Volume func(pod *corev1.Pod, v corev1.Volume) (string, error)
	// Env ("NAME=value") is given to every process, like the variables the
	// kubelet adds (service links): the container's own env overrides it, and
	// $(NAME) references in the Pod can use it. Use it for what the Pod would
	// get from the cluster, e.g. KUBECONFIG (see WriteKubeconfig) for its
	// service account.
	Env []string
	// Log receives what happens to Jobs and Pods, including the tail of the
	// output of a process that fails (V(1): of every process). The zero
	// Logger discards it; in a test, use testr.New(t).
	Log logr.Logger
}

const (
	// jobPoll is how often Run lists the Jobs and Pods when no process has
	// ended in between.
	jobPoll = 100 * time.Millisecond
	// The kubelet keeps the last 4096 bytes of the termination message file
	// and, for FallbackToLogsOnError, the last 80 lines, at most 2048 bytes,
	// of the logs.
	maxTerminationMessage = 4 * 1024
	maxLogMessageBytes    = 2 * 1024
	maxLogMessageLines    = 80
	// outputTail is how much of the output of a process is kept.
	outputTail = 64 * 1024
	// loggedOutput is how much of it goes to Log when the process ends.
	loggedOutput = 4 * 1024
	// maxGeneratedNameLength is the longest generateName the API server keeps
	// (k8s.io/apiserver/pkg/storage/names.MaxGeneratedNameLength).
	maxGeneratedNameLength = 58
	// localIP is the Pod and host IP: the processes run on this machine.
	localIP = "127.0.0.1"
	// restartDelay stands in for the kubelet's crash-loop back-off.
	restartDelay = 200 * time.Millisecond
	// killWait is how long a killed process may hold its output open.
	killWait = 5 * time.Second
	// exitStartError is the exit code of a container that could not start.
	exitStartError = 128
	// The Job controller's legacy Pod labels, next to the batch.kubernetes.io ones.
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
	completionIndexEnv       = "JOB_COMPLETION_INDEX"
)

// Why a process was stopped, as the cause of its context.
var (
	errRunnerStopped = errors.New("the JobRunner stopped")
	errJobFailed     = errors.New("the Job failed")
	errJobDeleted    = errors.New("the Job was deleted")
	errPodDeleted    = errors.New("the Pod was deleted")
)

// Start runs r in the background until the test ends, and then stops it,
// killing the processes still running. Call it after kubetest.Start, so that
// it stops before the API server does.
func (r *JobRunner) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run jobs: %v", err)
		}
	})
}

// Run plays the Job controller and the kubelet until ctx ends, then kills the
// processes still running, waits for them, and returns nil. Pods whose
// process it kills this way are left Running; a later Run fails them. Errors
// talking to the API server are logged and retried.
func (r *JobRunner) Run(ctx context.Context) error {
	if r.Client == nil {
		return errors.New("JobRunner.Client is nil")
	}
	dir, err := os.MkdirTemp("", "kubetest-jobs-")
	if err != nil {
		return fmt.Errorf("create the folder for pods: %w", err)
	}
	defer os.RemoveAll(dir)
	run := &jobRun{JobRunner: r, dir: dir, procs: map[types.UID]*podProc{}, wake: make(chan struct{}, 1)}
	defer run.stopAll()

	tick := time.NewTicker(jobPoll)
	defer tick.Stop()
	for {
		if err := run.sync(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error(err, "sync jobs")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-run.wake:
		}
	}
}

// jobRun is the state of one Run. Only Run's goroutine touches procs; each
// process has a goroutine of its own, which writes its Pod's status.
type jobRun struct {
	*JobRunner
	dir   string // holds a folder per Pod
	procs map[types.UID]*podProc
	wake  chan struct{}
	wg    sync.WaitGroup
}

// podProc is a Pod whose process runs, or is about to.
type podProc struct {
	job  types.UID
	stop context.CancelCauseFunc
	done chan struct{}
}

func (run *jobRun) stopAll() {
	for _, p := range run.procs {
		p.stop(errRunnerStopped)
	}
	run.wg.Wait()
}

// sync is one pass over the world: the kubelet's part for Pods that must stop,
// then the Job controller's part for each Job.
func (run *jobRun) sync(ctx context.Context) error {
	// Forget the processes that ended before listing, so that a listed Pod
	// that has no process was not started, or lost it.
	for uid, p := range run.procs {
		select {
		case <-p.done:
			p.stop(nil)
			delete(run.procs, uid)
		default:
		}
	}
	var jobs batchv1.JobList
	if err := run.Client.List(ctx, &jobs); err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	var pods corev1.PodList
	if err := run.Client.List(ctx, &pods); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	listed := make(map[types.UID]*corev1.Pod, len(pods.Items))
	owned := map[types.UID][]*corev1.Pod{}
	var deleted []*corev1.Pod // Pods of Jobs waiting for their kubelet to confirm a deletion
	for i := range pods.Items {
		pod := &pods.Items[i]
		listed[pod.UID] = pod
		ref := metav1.GetControllerOf(pod)
		if ref == nil || ref.Kind != "Job" || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			continue
		}
		owned[ref.UID] = append(owned[ref.UID], pod)
		if pod.DeletionTimestamp != nil && ptr.Deref(pod.DeletionGracePeriodSeconds, 0) > 0 {
			deleted = append(deleted, pod)
		}
	}
	alive := make(map[types.UID]bool, len(jobs.Items))
	for i := range jobs.Items {
		if jobs.Items[i].DeletionTimestamp == nil {
			alive[jobs.Items[i].UID] = true
		}
	}

	var errs []error
	for uid, p := range run.procs {
		switch pod := listed[uid]; {
		case pod == nil || pod.DeletionTimestamp != nil:
			p.stop(errPodDeleted)
		case !alive[p.job]:
			p.stop(errJobDeleted)
		}
	}
	for _, pod := range deleted {
		// A deleted Pod bound to a node is gone once its kubelet has stopped
		// it and says so.
		if _, running := run.procs[pod.UID]; running {
			continue
		}
		if err := run.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if err := run.syncJob(ctx, job, owned[job.UID]); err != nil {
			errs = append(errs, fmt.Errorf("job %s/%s: %w", job.Namespace, job.Name, err))
		}
	}
	return errors.Join(errs...)
}

// jobPods is what the Pods of a Job say about it.
type jobPods struct {
	active      []*corev1.Pod
	ready       int32
	terminating int32
	succeeded   int32
	failed      int32 // as counted by podFailurePolicy
	failJob     *string
	done        indexSet // succeeded indexes, for an Indexed Job
}

func observeJobPods(job *batchv1.Job, pods []*corev1.Pod) jobPods {
	var o jobPods
	indexed := isIndexed(job)
	if indexed {
		o.done = make(indexSet, ptr.Deref(job.Spec.Completions, 0))
	}
	onlyReplaceFailed := ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed
	for _, pod := range pods {
		terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		if pod.DeletionTimestamp != nil && !terminal {
			o.terminating++
		}
		switch {
		case pod.Status.Phase == corev1.PodSucceeded:
			o.succeeded++
			if ix, ok := completionIndex(pod); ok && indexed {
				o.done.add(ix)
			}
		case pod.Status.Phase == corev1.PodFailed || (pod.DeletionTimestamp != nil && !onlyReplaceFailed):
			// The Job controller counts a deleted Pod as failed.
			message, count := matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
			if count {
				o.failed++
			}
			if o.failJob == nil {
				o.failJob = message
			}
		case pod.DeletionTimestamp == nil:
			o.active = append(o.active, pod)
			if podReady(pod) {
				o.ready++
			}
		}
	}
	return o
}

// syncJob is the Job controller's pass over one Job: it counts the Job's
// Pods, decides whether the Job has succeeded or failed, starts the Pods it
// lacks or stops those of a failed Job, and writes the status if it changed.
func (run *jobRun) syncJob(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) error {
	if job.DeletionTimestamp != nil || jobFinished(job) || ptr.Deref(job.Spec.Suspend, false) ||
		ptr.Deref(job.Spec.ManagedBy, batchv1.JobControllerName) != batchv1.JobControllerName {
		return nil
	}
	log := run.Log.WithValues("job", client.ObjectKeyFromObject(job))
	now := metav1.Now()
	o := observeJobPods(job, pods)

	status := job.Status.DeepCopy()
	if status.StartTime == nil {
		status.StartTime = &now
	}
	// Counters never go down, even when someone deletes finished Pods.
	status.Failed = max(status.Failed, o.failed)
	if isIndexed(job) {
		o.done.addIntervals(status.CompletedIndexes)
		status.CompletedIndexes = o.done.String()
		status.Succeeded = o.done.count()
	} else {
		status.Succeeded = max(status.Succeeded, o.succeeded)
	}

	target := finishingCondition(job, status, o, pods, now.Time)
	var errs []error
	switch {
	case target == nil:
		created, err := run.managePods(ctx, log, job, status, o)
		if err != nil {
			errs = append(errs, err)
		}
		o.active = append(o.active, created...)
		succeeded := status.Succeeded > 0
		if job.Spec.Completions != nil {
			succeeded = status.Succeeded >= *job.Spec.Completions
		}
		if succeeded && len(o.active) == 0 {
			target = newJobCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		}
	case target.Type == batchv1.JobFailureTarget:
		for _, pod := range o.active {
			if err := run.stopPod(ctx, pod, errJobFailed); err != nil {
				errs = append(errs, err)
			}
		}
	}

	status.Active = int32(len(o.active))
	status.Ready = &o.ready
	status.Terminating = &o.terminating
	if status.UncountedTerminatedPods == nil {
		status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	var finished *batchv1.JobCondition
	if target != nil {
		if findJobCondition(status.Conditions, target.Type) == nil {
			status.Conditions = append(status.Conditions, *target)
		}
		// The Job finishes once none of its Pods runs.
		if len(o.active) == 0 && o.terminating == 0 {
			final := batchv1.JobFailed
			if target.Type == batchv1.JobSuccessCriteriaMet {
				final = batchv1.JobComplete
				status.CompletionTime = &now
			}
			finished = newJobCondition(final, target.Reason, target.Message, now)
			status.Conditions = append(status.Conditions, *finished)
		}
	}
	if equality.Semantic.DeepEqual(status, &job.Status) {
		return errors.Join(errs...)
	}
	job.Status = *status
	switch err := run.Client.Status().Update(ctx, job); {
	case err == nil && finished != nil:
		log.Info("job finished", "condition", finished.Type, "reason", finished.Reason, "message", finished.Message)
	case err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err):
		errs = append(errs, fmt.Errorf("update status: %w", err))
	}
	return errors.Join(errs...)
}

// finishingCondition returns the SuccessCriteriaMet or FailureTarget
// condition the Job has or must get now, in the Job controller's order: the
// conditions already set, then podFailurePolicy, backoffLimit and
// activeDeadlineSeconds. Success by completions is decided after managePods.
func finishingCondition(job *batchv1.Job, status *batchv1.JobStatus, o jobPods, pods []*corev1.Pod, now time.Time) *batchv1.JobCondition {
	if c := findJobCondition(status.Conditions, batchv1.JobSuccessCriteriaMet); c != nil {
		return c
	}
	if c := findJobCondition(status.Conditions, batchv1.JobFailureTarget); c != nil {
		return c
	}
	at := metav1.NewTime(now)
	switch {
	case o.failJob != nil:
		return newJobCondition(batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, *o.failJob, at)
	case status.Failed > ptr.Deref(job.Spec.BackoffLimit, 6) || pastBackoffLimitOnFailure(job, pods):
		return newJobCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", at)
	case job.Spec.ActiveDeadlineSeconds != nil && now.Sub(status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second:
		return newJobCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", at)
	}
	return nil
}

// pastBackoffLimitOnFailure is the Job controller's check of the restarts
// of the running Pods of a Job whose restartPolicy is OnFailure.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodPending {
			for _, s := range pod.Status.ContainerStatuses {
				restarts += s.RestartCount
			}
		}
	}
	limit := ptr.Deref(job.Spec.BackoffLimit, 6)
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// managePods starts the active Pods that have no process yet (the kubelet's
// part), fails those whose process was lost, and creates the Pods the Job
// lacks. It returns the Pods it created.
func (run *jobRun) managePods(ctx context.Context, log logr.Logger, job *batchv1.Job, status *batchv1.JobStatus, o jobPods) ([]*corev1.Pod, error) {
	for _, pod := range o.active {
		if _, running := run.procs[pod.UID]; running {
			continue
		}
		if pod.Status.Phase == corev1.PodRunning {
			if err := run.failLostPod(ctx, pod); err != nil {
				return nil, err
			}
			continue
		}
		run.startPod(ctx, job, pod)
	}

	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	want := parallelism
	switch {
	case job.Spec.Completions != nil:
		want = max(min(*job.Spec.Completions-status.Succeeded, parallelism), 0)
	case status.Succeeded > 0:
		want = int32(len(o.active))
	}
	missing := int(want) - len(o.active)
	if ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed {
		missing -= int(o.terminating)
	}
	if missing <= 0 {
		return nil, nil
	}
	indexes := slices.Repeat([]int{-1}, missing)
	if isIndexed(job) {
		indexes = pendingIndexes(o.done, o.active, missing, int(ptr.Deref(job.Spec.Completions, 0)))
	}
	var created []*corev1.Pod
	for _, ix := range indexes {
		pod := newJobPod(job, ix)
		if err := run.Client.Create(ctx, pod); err != nil {
			return created, fmt.Errorf("create pod: %w", err)
		}
		log.V(1).Info("pod created", "pod", pod.Name)
		run.startPod(ctx, job, pod)
		created = append(created, pod)
	}
	return created, nil
}

// newJobPod returns the Pod the Job controller creates for job, for the
// completion index ix of an Indexed Job (-1 otherwise).
func newJobPod(job *batchv1.Job, ix int) *corev1.Pod {
	tmpl := job.Spec.Template.DeepCopy()
	labels := make(map[string]string, len(tmpl.Labels)+5)
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	labels[batchv1.JobNameLabel] = job.Name
	labels[legacyJobNameLabel] = job.Name
	labels[batchv1.ControllerUidLabel] = string(job.UID)
	labels[legacyControllerUIDLabel] = string(job.UID)
	generateName := job.Name + "-"
	if ix >= 0 {
		tmpl.Annotations = withEntry(tmpl.Annotations, batchv1.JobCompletionIndexAnnotation, strconv.Itoa(ix))
		labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
		tmpl.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
		suffix := "-" + strconv.Itoa(ix) + "-"
		generateName = job.Name + suffix
		if len(generateName) > maxGeneratedNameLength {
			generateName = generateName[:maxGeneratedNameLength-len(suffix)] + suffix
		}
		for i := range tmpl.Spec.InitContainers {
			addCompletionIndexEnv(&tmpl.Spec.InitContainers[i])
		}
		for i := range tmpl.Spec.Containers {
			addCompletionIndexEnv(&tmpl.Spec.Containers[i])
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateName,
			Namespace:       job.Namespace,
			Labels:          labels,
			Annotations:     tmpl.Annotations,
			Finalizers:      tmpl.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: tmpl.Spec,
	}
}

func withEntry(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// addCompletionIndexEnv gives the container JOB_COMPLETION_INDEX, from the
// Pod's completion index label, as the Job controller does.
func addCompletionIndexEnv(c *corev1.Container) {
	for _, e := range c.Env {
		if e.Name == completionIndexEnv {
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{
		Name: completionIndexEnv,
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation),
		}},
	})
}

// pendingIndexes returns the n lowest indexes below completions that have
// neither succeeded nor an active Pod.
func pendingIndexes(done indexSet, active []*corev1.Pod, n, completions int) []int {
	busy := make(indexSet, completions)
	for _, pod := range active {
		if ix, ok := completionIndex(pod); ok {
			busy.add(ix)
		}
	}
	var pending []int
	for ix := 0; ix < completions && len(pending) < n; ix++ {
		if !done.has(ix) && !busy.has(ix) {
			pending = append(pending, ix)
		}
	}
	return pending
}

func completionIndex(pod *corev1.Pod) (int, bool) {
	ix, err := strconv.Atoi(pod.Annotations[batchv1.JobCompletionIndexAnnotation])
	return ix, err == nil && ix >= 0
}

func isIndexed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
}

func jobFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func findJobCondition(conditions []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conditions {
		if conditions[i].Type == t && conditions[i].Status == corev1.ConditionTrue {
			return &conditions[i]
		}
	}
	return nil
}

func newJobCondition(t batchv1.JobConditionType, reason, message string, now metav1.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{
		Type:               t,
		Status:             corev1.ConditionTrue,
		Reason:             reason,
		Message:            message,
		LastProbeTime:      now,
		LastTransitionTime: now,
	}
}

// matchPodFailurePolicy is the Job controller's match of a failed Pod against
// the Job's podFailurePolicy: it returns the Job's failure message when a
// FailJob rule matches, and whether the failure counts towards backoffLimit
// (not when an Ignore rule matches).
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) (*string, bool) {
	if policy == nil {
		return nil, true
	}
	for i, rule := range policy.Rules {
		var failJob string
		switch {
		case rule.OnExitCodes != nil:
			s := matchExitCodes(pod.Status.ContainerStatuses, rule.OnExitCodes)
			if s == nil {
				s = matchExitCodes(pod.Status.InitContainerStatuses, rule.OnExitCodes)
			}
			if s == nil {
				continue
			}
			failJob = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				s.Name, pod.Namespace, pod.Name, s.State.Terminated.ExitCode, rule.Action, i)
		case rule.OnPodConditions != nil:
			c := matchPodConditions(pod.Status.Conditions, rule.OnPodConditions)
			if c == nil {
				continue
			}
			failJob = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
				pod.Namespace, pod.Name, c.Type, rule.Action, i)
		default:
			continue
		}
		switch rule.Action {
		case batchv1.PodFailurePolicyActionIgnore:
			return nil, false
		case batchv1.PodFailurePolicyActionFailJob:
			return &failJob, true
		default: // Count, and FailIndex without backoffLimitPerIndex
			return nil, true
		}
	}
	return nil, true
}

func matchExitCodes(statuses []corev1.ContainerStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for i := range statuses {
		s := &statuses[i]
		if s.State.Terminated == nil || s.State.Terminated.ExitCode == 0 {
			continue
		}
		if req.ContainerName != nil && *req.ContainerName != s.Name {
			continue
		}
		in := slices.Contains(req.Values, s.State.Terminated.ExitCode)
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && in) || (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn && !in) {
			return s
		}
	}
	return nil
}

func matchPodConditions(conditions []corev1.PodCondition, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range conditions {
		for _, p := range patterns {
			if conditions[i].Type == p.Type && conditions[i].Status == p.Status {
				return &conditions[i]
			}
		}
	}
	return nil
}

// indexSet is a set of completion indexes below len(s).
type indexSet []bool

func (s indexSet) add(ix int) {
	if ix < len(s) {
		s[ix] = true
	}
}

func (s indexSet) has(ix int) bool { return ix < len(s) && s[ix] }

func (s indexSet) count() int32 {
	var n int32
	for _, in := range s {
		if in {
			n++
		}
	}
	return n
}

// addIntervals adds the indexes of a status.completedIndexes string, such as
// "0-2,4", ignoring what it cannot parse.
func (s indexSet) addIntervals(intervals string) {
	if intervals == "" {
		return
	}
	for _, part := range strings.Split(intervals, ",") {
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(first)
		if err != nil {
			continue
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(last); err != nil {
				continue
			}
		}
		for ix := max(lo, 0); ix <= hi && ix < len(s); ix++ {
			s[ix] = true
		}
	}
}

// String formats the set as the Job controller writes completedIndexes:
// runs of three or more as "first-last", others one by one ("0-2,4,5").
func (s indexSet) String() string {
	var b strings.Builder
	for ix := 0; ix < len(s); ix++ {
		if !s[ix] {
			continue
		}
		last := ix
		for last+1 < len(s) && s[last+1] {
			last++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ix))
		switch {
		case last == ix+1:
			b.WriteString("," + strconv.Itoa(last))
		case last > ix+1:
			b.WriteString("-" + strconv.Itoa(last))
		}
		ix = last
	}
	return b.String()
}

// startPod starts the goroutine that runs the Pod's process and writes its
// status.
func (run *jobRun) startPod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) {
	procCtx, stop := context.WithCancelCause(ctx)
	p := &podProc{job: job.UID, stop: stop, done: make(chan struct{})}
	run.procs[pod.UID] = p
	pod = pod.DeepCopy()
	run.wg.Go(func() {
		run.runPod(ctx, procCtx, pod)
		close(p.done)
		select {
		case run.wake <- struct{}{}:
		default:
		}
	})
}

// stopPod kills the process of an active Pod, or deletes the Pod if it has
// none, as the Job controller does with the Pods of a failed Job.
func (run *jobRun) stopPod(ctx context.Context, pod *corev1.Pod, cause error) error {
	if p, running := run.procs[pod.UID]; running {
		p.stop(cause)
		return nil
	}
	if err := run.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	return nil
}

// failLostPod fails a Pod that is running without a process: the Run that
// started it stopped.
func (run *jobRun) failLostPod(ctx context.Context, pod *corev1.Pod) error {
	now := metav1.Now()
	started := now
	if pod.Status.StartTime != nil {
		started = *pod.Status.StartTime
	}
	before := pod.DeepCopy()
	setPodTerminated(pod, containerExit{
		code:       128 + int32(syscall.SIGKILL),
		reason:     "Error",
		message:    "kubetest.JobRunner lost this pod's process: the runner that started it stopped",
		startedAt:  started,
		finishedAt: now,
	}, containerRestarts(pod), corev1.ContainerState{})
	if err := run.Client.Status().Patch(ctx, pod, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("fail pod %s, whose process was lost: %w", pod.Name, err)
	}
	return nil
}

func containerRestarts(pod *corev1.Pod) int32 {
	if len(pod.Status.ContainerStatuses) == 0 {
		return 0
	}
	return pod.Status.ContainerStatuses[0].RestartCount
}

// runPod is the kubelet's part for one Pod: it prepares the process, reports
// the Pod Running, runs the process (again, for restartPolicy OnFailure) and
// reports how it ended. ctx is Run's; procCtx ends when the process must be
// killed.
func (run *jobRun) runPod(ctx, procCtx context.Context, pod *corev1.Pod) {
	log := run.Log.WithValues("pod", client.ObjectKeyFromObject(pod))
	dir := filepath.Join(run.dir, string(pod.UID))
	defer os.RemoveAll(dir)

	started := metav1.Now()
	proc, err := run.prepare(ctx, pod, dir)
	if err != nil {
		log.Error(err, "pod cannot start")
		exit := containerExit{code: exitStartError, reason: "StartError", message: err.Error(), startedAt: started, finishedAt: metav1.Now()}
		run.writePodStatus(ctx, log, pod, func() { setPodTerminated(pod, exit, 0, corev1.ContainerState{}) })
		return
	}
	var restarts int32
	var last corev1.ContainerState
	for {
		now := metav1.Now()
		if !run.writePodStatus(ctx, log, pod, func() { setPodRunning(pod, now, restarts, last) }) {
			return
		}
		exit := proc.run(procCtx)
		cause := context.Cause(procCtx)
		if errors.Is(cause, errRunnerStopped) || ctx.Err() != nil {
			return // leave the Pod as it is: the API server may be gone
		}
		if cause != nil {
			log.Info("process killed", "reason", cause.Error(), "exitCode", exit.code)
		} else {
			logOutput(log, exit)
		}
		if exit.code != 0 && cause == nil && pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
			select {
			case <-time.After(restartDelay):
				restarts++
				last = exit.state()
				continue
			case <-procCtx.Done(): // killed while waiting to restart
				if errors.Is(context.Cause(procCtx), errRunnerStopped) || ctx.Err() != nil {
					return
				}
			}
		}
		run.writePodStatus(ctx, log, pod, func() { setPodTerminated(pod, exit, restarts, last) })
		return
	}
}

func logOutput(log logr.Logger, exit containerExit) {
	out := exit.output
	if len(out) > loggedOutput {
		out = out[len(out)-loggedOutput:]
	}
	if exit.code != 0 {
		log.Info("process failed", "exitCode", exit.code, "output", string(out))
		return
	}
	log.V(1).Info("process succeeded", "output", string(out))
}

// writePodStatus applies set to the Pod's status and writes it, reporting
// whether it could.
func (run *jobRun) writePodStatus(ctx context.Context, log logr.Logger, pod *corev1.Pod, set func()) bool {
	before := pod.DeepCopy()
	set()
	if err := run.Client.Status().Patch(ctx, pod, client.MergeFrom(before)); err != nil {
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			log.Error(err, "write pod status")
		}
		return false
	}
	return true
}

func setPodRunning(pod *corev1.Pod, now metav1.Time, restarts int32, last corev1.ContainerState) {
	s := &pod.Status
	s.Phase = corev1.PodRunning
	setPodStarted(s, now)
	setPodConditions(s, now, true, "")
	c := pod.Spec.Containers[0]
	s.ContainerStatuses = []corev1.ContainerStatus{{
		Name:                 c.Name,
		Image:                c.Image,
		Ready:                true,
		Started:              ptr.To(true),
		RestartCount:         restarts,
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		LastTerminationState: last,
	}}
}

func setPodTerminated(pod *corev1.Pod, exit containerExit, restarts int32, last corev1.ContainerState) {
	s := &pod.Status
	s.Phase = corev1.PodSucceeded
	if exit.code != 0 {
		s.Phase = corev1.PodFailed
	}
	setPodStarted(s, exit.startedAt)
	setPodConditions(s, exit.finishedAt, false, "PodCompleted")
	var name, image string
	if len(pod.Spec.Containers) > 0 {
		name, image = pod.Spec.Containers[0].Name, pod.Spec.Containers[0].Image
	}
	s.ContainerStatuses = []corev1.ContainerStatus{{
		Name:                 name,
		Image:                image,
		Started:              ptr.To(false),
		RestartCount:         restarts,
		State:                exit.state(),
		LastTerminationState: last,
	}}
}

func setPodStarted(s *corev1.PodStatus, now metav1.Time) {
	if s.StartTime == nil {
		s.StartTime = &now
	}
	s.HostIP, s.PodIP = localIP, localIP
	s.HostIPs = []corev1.HostIP{{IP: localIP}}
	s.PodIPs = []corev1.PodIP{{IP: localIP}}
}

// setPodConditions sets the conditions the kubelet keeps, moving their
// transition time only when they change.
func setPodConditions(s *corev1.PodStatus, now metav1.Time, ready bool, notReadyReason string) {
	readyStatus, reason := corev1.ConditionTrue, ""
	if !ready {
		readyStatus, reason = corev1.ConditionFalse, notReadyReason
	}
	want := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: readyStatus, Reason: reason},
		{Type: corev1.ContainersReady, Status: readyStatus, Reason: reason},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	}
	for _, w := range want {
		i := slices.IndexFunc(s.Conditions, func(c corev1.PodCondition) bool { return c.Type == w.Type })
		if i < 0 {
			w.LastTransitionTime = now
			s.Conditions = append(s.Conditions, w)
			continue
		}
		if s.Conditions[i].Status != w.Status {
			s.Conditions[i].LastTransitionTime = now
		}
		s.Conditions[i].Status, s.Conditions[i].Reason = w.Status, w.Reason
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// process is a container made ready to run locally.
type process struct {
	path           string
	args           []string // argv, argv[0] as written
	env            []string
	dir            string
	terminationLog string // host file at the container's terminationMessagePath
	fallbackToLogs bool
}

// containerExit is how a run of a process ended.
type containerExit struct {
	code                  int32
	reason, message       string
	startedAt, finishedAt metav1.Time
	output                []byte // tail of stdout and stderr
}

func (e containerExit) state() corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode:   e.code,
		Reason:     e.reason,
		Message:    e.message,
		StartedAt:  e.startedAt,
		FinishedAt: e.finishedAt,
	}}
}

// run runs the process until it exits or ctx ends, which kills it and the
// processes it started.
func (p *process) run(ctx context.Context) containerExit {
	started := metav1.Now()
	if err := os.WriteFile(p.terminationLog, nil, 0o666); err != nil {
		return containerExit{code: exitStartError, reason: "StartError", message: err.Error(), startedAt: started, finishedAt: metav1.Now()}
	}
	out := &tailWriter{}
	cmd := exec.CommandContext(ctx, p.path)
	cmd.Args, cmd.Env, cmd.Dir = p.args, p.env, p.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killWait
	if err := cmd.Start(); err != nil {
		return containerExit{code: exitStartError, reason: "StartError", message: err.Error(), startedAt: started, finishedAt: metav1.Now()}
	}
	_ = cmd.Wait() // the exit status is in ProcessState
	exit := containerExit{code: exitCode(cmd.ProcessState), reason: "Completed", startedAt: started, finishedAt: metav1.Now(), output: out.bytes()}
	if exit.code != 0 {
		exit.reason = "Error"
	}
	message, err := readTail(p.terminationLog, maxTerminationMessage)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		exit.message = fmt.Sprintf("Error on reading termination log %s: %v", p.terminationLog, err)
	case message == "" && p.fallbackToLogs && exit.code != 0:
		exit.message = logMessage(exit.output)
	default:
		exit.message = message
	}
	return exit
}

// exitCode is the exit code a container runtime reports: 128 plus the
// signal for a process killed by one.
func exitCode(ps *os.ProcessState) int32 {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// readTail reads at most the last n bytes of a file.
func readTail(name string, n int64) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if size := fi.Size(); size > n {
		if _, err := f.Seek(size-n, io.SeekStart); err != nil {
			return "", err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, n))
	return string(b), err
}

// logMessage is the kubelet's termination message from the logs: the last
// 80 lines, at most their last 2048 bytes.
func logMessage(out []byte) string {
	lines := 0
	for i := len(out) - 2; i >= 0; i-- {
		if out[i] == '\n' {
			if lines++; lines == maxLogMessageLines {
				out = out[i+1:]
				break
			}
		}
	}
	if len(out) > maxLogMessageBytes {
		out = out[len(out)-maxLogMessageBytes:]
	}
	return string(out)
}

// tailWriter keeps the last outputTail bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2*outputTail {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-outputTail:]...)
	}
	return len(p), nil
}

func (w *tailWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > outputTail {
		return slices.Clone(w.buf[len(w.buf)-outputTail:])
	}
	return slices.Clone(w.buf)
}

// mount is a container path and the host path standing in for it.
type mount struct{ path, host string }

// prepare turns the Pod's container into a process: env, volumes, command.
func (run *jobRun) prepare(ctx context.Context, pod *corev1.Pod, dir string) (*process, error) {
	if n := len(pod.Spec.InitContainers); n > 0 {
		return nil, fmt.Errorf("kubetest.JobRunner runs pods without init containers; this one has %d", n)
	}
	if n := len(pod.Spec.Containers); n != 1 {
		return nil, fmt.Errorf("kubetest.JobRunner runs pods with one container; this one has %d", n)
	}
	c := &pod.Spec.Containers[0]
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %q has no command: kubetest.JobRunner cannot run an image's entrypoint", c.Name)
	}
	extra := envMap(run.Env)
	env, err := run.containerEnv(ctx, pod, c, extra)
	if err != nil {
		return nil, err
	}
	mounts, err := run.mounts(ctx, pod, c, env, extra, dir)
	if err != nil {
		return nil, err
	}
	p := &process{
		terminationLog: filepath.Join(dir, "termination-log"),
		fallbackToLogs: c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError,
	}
	messagePath := c.TerminationMessagePath
	if messagePath == "" {
		messagePath = corev1.TerminationMessagePathDefault
	}
	hostPath := func(s string) (string, bool) {
		if s == messagePath {
			return p.terminationLog, true
		}
		for _, m := range mounts {
			if s == m.path {
				return m.host, true
			}
			if rest, ok := strings.CutPrefix(s, m.path+"/"); ok {
				return filepath.Join(m.host, filepath.FromSlash(rest)), true
			}
		}
		return s, false
	}
	mapping := expansionMapping(env, extra)
	for _, s := range slices.Concat(c.Command, c.Args) {
		host, _ := hostPath(expandVars(s, mapping))
		p.args = append(p.args, host)
	}
	argv0 := expandVars(c.Command[0], mapping)
	p.args[0] = argv0
	switch exe, ok := run.Commands[argv0]; {
	case ok:
		p.path = exe
	default:
		host, mounted := hostPath(argv0)
		if !mounted {
			return nil, fmt.Errorf("command %q of container %q is not in kubetest.JobRunner.Commands", argv0, c.Name)
		}
		p.path = host
	}

	p.dir = filepath.Join(dir, "root")
	if c.WorkingDir != "" {
		host, mounted := hostPath(c.WorkingDir)
		if !mounted {
			host = filepath.Join(p.dir, filepath.FromSlash(c.WorkingDir))
		}
		p.dir = host
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create working directory: %w", err)
	}

	all := map[string]string{}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			all[k] = v
		}
	}
	for k, v := range extra {
		all[k] = v
	}
	for k, v := range env {
		all[k] = v
	}
	for k, v := range all {
		p.env = append(p.env, k+"="+v)
	}
	sort.Strings(p.env)
	return p, nil
}

// containerEnv resolves the container's env as the kubelet does: envFrom
// first, then each env in order, a value expanding $(VAR) references to
// the variables before it and to extra.
func (run *jobRun) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, extra map[string]string) (map[string]string, error) {
	env := map[string]string{}
	secrets := map[string]*corev1.Secret{}
	configMaps := map[string]*corev1.ConfigMap{}
	secret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s := &corev1.Secret{}
		if err := run.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: name}, s); err != nil {
			return nil, fmt.Errorf("get secret %s/%s: %w", pod.Namespace, name, err)
		}
		secrets[name] = s
		return s, nil
	}
	configMap := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		cm := &corev1.ConfigMap{}
		if err := run.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: name}, cm); err != nil {
			return nil, fmt.Errorf("get configmap %s/%s: %w", pod.Namespace, name, err)
		}
		configMaps[name] = cm
		return cm, nil
	}

	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := configMap(from.ConfigMapRef.Name)
			if apierrors.IsNotFound(err) && ptr.Deref(from.ConfigMapRef.Optional, false) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s, err := secret(from.SecretRef.Name)
			if apierrors.IsNotFound(err) && ptr.Deref(from.SecretRef.Optional, false) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for k, v := range s.Data {
				env[from.Prefix+k] = string(v)
			}
		}
	}

	mapping := expansionMapping(env, extra)
	for _, e := range c.Env {
		value := e.Value
		switch from := e.ValueFrom; {
		case value != "":
			value = expandVars(value, mapping)
		case from == nil:
		case from.FieldRef != nil:
			v, err := podField(pod, from.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			value = v
		case from.SecretKeyRef != nil:
			ref := from.SecretKeyRef
			s, err := secret(ref.Name)
			if apierrors.IsNotFound(err) && ptr.Deref(ref.Optional, false) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if ptr.Deref(ref.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("env %s: couldn't find key %s in Secret %s/%s", e.Name, ref.Key, pod.Namespace, ref.Name)
			}
			value = string(v)
		case from.ConfigMapKeyRef != nil:
			ref := from.ConfigMapKeyRef
			cm, err := configMap(ref.Name)
			if apierrors.IsNotFound(err) && ptr.Deref(ref.Optional, false) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if ptr.Deref(ref.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("env %s: couldn't find key %s in ConfigMap %s/%s", e.Name, ref.Key, pod.Namespace, ref.Name)
			}
			value = v
		default:
			return nil, fmt.Errorf("env %s: kubetest.JobRunner supports value, fieldRef, secretKeyRef and configMapKeyRef only", e.Name)
		}
		env[e.Name] = value
	}
	return env, nil
}

// podField is the kubelet's value of a downward API fieldRef.
func podField(pod *corev1.Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return localIP, nil
	}
	for _, field := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels", pod.Labels}, {"metadata.annotations", pod.Annotations}} {
		if rest, ok := strings.CutPrefix(fieldPath, field.prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return field.m[key], nil
			}
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", fieldPath)
}

// formatMap is the downward API's rendering of labels and annotations.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// envMap parses NAME=value strings, later ones winning.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// expansionMapping resolves a $(VAR) reference from the first map that has
// it, leaving an unknown one as written.
func expansionMapping(maps ...map[string]string) func(string) string {
	return func(name string) string {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v
			}
		}
		return "$(" + name + ")"
	}
}

// expandVars expands $(VAR) references as Kubernetes does in env values,
// command and args: $$ is a literal $, and a $ that starts neither is kept.
func expandVars(s string, mapping func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			b.WriteString(mapping(s[i+2 : i+2+end]))
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// mounts returns the container's volume mounts with their host folders,
// deepest first.
func (run *jobRun) mounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, env, extra map[string]string, dir string) ([]mount, error) {
	hosts := map[string]string{}
	var mounts []mount
	for _, vm := range c.VolumeMounts {
		host, ok := hosts[vm.Name]
		if !ok {
			i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
			if i < 0 {
				return nil, fmt.Errorf("volume mount %q: no such volume", vm.Name)
			}
			var err error
			if host, err = run.volume(ctx, pod, pod.Spec.Volumes[i], dir); err != nil {
				return nil, err
			}
			hosts[vm.Name] = host
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			var missing []string
			sub = expandVars(vm.SubPathExpr, func(name string) string {
				v := env[name]
				if _, ok := env[name]; !ok {
					v = extra[name]
				}
				if v == "" {
					missing = append(missing, name)
				}
				return v
			})
			if len(missing) > 0 {
				return nil, fmt.Errorf("volume mount %q: missing value for %s", vm.Name, strings.Join(missing, ", "))
			}
		}
		if sub != "" {
			host = filepath.Join(host, filepath.FromSlash(sub))
			if _, err := os.Stat(host); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, fmt.Errorf("volume mount %q: %w", vm.Name, err)
				}
			}
		}
		mounts = append(mounts, mount{path: path.Clean(vm.MountPath), host: host})
	}
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].path) > len(mounts[j].path) })
	return mounts, nil
}

// volume returns the host folder of a Pod volume: from Volume, or a folder
// of the Pod's for an emptyDir, secret or configMap volume.
func (run *jobRun) volume(ctx context.Context, pod *corev1.Pod, v corev1.Volume, dir string) (string, error) {
	if run.Volume != nil {
		host, err := run.Volume(pod, v)
		if err != nil {
			return "", fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if host != "" {
			return host, nil
		}
	}
	host := filepath.Join(dir, "volumes", v.Name)
	if err := os.MkdirAll(host, 0o755); err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	switch {
	case v.EmptyDir != nil:
		return host, nil
	case v.Secret != nil:
		s := &corev1.Secret{}
		err := run.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: v.Secret.SecretName}, s)
		optional := ptr.Deref(v.Secret.Optional, false)
		if apierrors.IsNotFound(err) && optional {
			return host, nil
		}
		if err != nil {
			return "", fmt.Errorf("volume %q: get secret: %w", v.Name, err)
		}
		return host, writeKeys(host, s.Data, v.Secret.Items, optional)
	case v.ConfigMap != nil:
		cm := &corev1.ConfigMap{}
		err := run.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: v.ConfigMap.Name}, cm)
		optional := ptr.Deref(v.ConfigMap.Optional, false)
		if apierrors.IsNotFound(err) && optional {
			return host, nil
		}
		if err != nil {
			return "", fmt.Errorf("volume %q: get configmap: %w", v.Name, err)
		}
		data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
		for k, val := range cm.BinaryData {
			data[k] = val
		}
		for k, val := range cm.Data {
			data[k] = []byte(val)
		}
		return host, writeKeys(host, data, v.ConfigMap.Items, optional)
	}
	return "", fmt.Errorf("volume %q is not an emptyDir, secret or configMap: kubetest.JobRunner.Volume must give its host folder", v.Name)
}

// writeKeys writes a secret's or configMap's keys as files, as a volume
// shows them: every key, or the items listed.
func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, optional bool) error {
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("volume: couldn't find key %s", it.Key)
		}
		name := filepath.Join(dir, filepath.FromSlash(it.Path))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, v, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteKubeconfig writes a kubeconfig file for cfg, such as envtest's admin
// credentials from Start, in a temporary folder of the test and returns its
// path, so that a child process can reach the API server, e.g. a Job's
// command run by JobRunner with Env: []string{"KUBECONFIG=" + path}.
func WriteKubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	server, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		t.Fatalf("kubeconfig: server URL of %q: %v", cfg.Host, err)
	}
	const name = "envtest"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   server.String(),
		CertificateAuthority:     cfg.CAFile,
		CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify:    cfg.Insecure,
		TLSServerName:            cfg.ServerName,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificate:     cfg.CertFile,
		ClientCertificateData: cfg.CertData,
		ClientKey:             cfg.KeyFile,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		Username:              cfg.Username,
		Password:              cfg.Password,
		Impersonate:           cfg.Impersonate.UserName,
		ImpersonateGroups:     cfg.Impersonate.Groups,
	}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return file
}
