package kubetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// maxGeneratedNameLength is the longest generateName the API server keeps
	// (k8s.io/apiserver/pkg/storage/names.MaxGeneratedNameLength).
	maxGeneratedNameLength = 58
	// The Job controller's legacy Pod labels, next to the batch.kubernetes.io ones.
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
	completionIndexEnv       = "JOB_COMPLETION_INDEX"
)

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
