package controllers

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/internal/jobreport"
)

// Reasons of the run's conditions and failures.
const (
	ReasonQueued           = "WaitingForRun"
	ReasonStarted          = "Started"
	ReasonPending          = "Pending"
	ReasonIngesting        = "Ingesting"
	ReasonIngested         = "AllDatasetsLoaded"
	ReasonPrecalculating   = "Precalculating"
	ReasonPrecalculated    = "AggregatesRefreshed"
	ReasonPrecalcDisabled  = "PrecalcDisabled"
	ReasonSucceeded        = "Succeeded"
	ReasonIngestFailed     = "IngestFailed"
	ReasonPrecalcFailed    = "PrecalcFailed"
	ReasonDeadlineExceeded = "DeadlineExceeded"
	ReasonJobNotControlled = "JobNotControlled"
	ReasonJobInvalid       = "JobInvalid"
)

// children are the objects a run owns.
type children struct {
	jobs map[jobRole]*batchv1.Job
	pods []corev1.Pod
}

// jobState is where a Job is: running, or finished by its Complete or
// Failed condition (never by its counters).
type jobState int

const (
	jobMissing jobState = iota
	jobRunning
	jobComplete
	jobFailed
)

func stateOf(job *batchv1.Job) (jobState, *batchv1.JobCondition) {
	if job == nil {
		return jobMissing, nil
	}
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobComplete, c
		case batchv1.JobFailed:
			return jobFailed, c
		}
	}
	return jobRunning, nil
}

// countIndexes counts the indexes in a Job's completedIndexes ("0-2,4").
func countIndexes(s string) int32 {
	var n int32
	for part := range strings.SplitSeq(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 == nil && err2 == nil && b >= a {
			n += int32(b - a + 1)
		}
	}
	return n
}

// podsOf returns the pods of job, newest first.
func podsOf(job *batchv1.Job, pods []corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range pods {
		if metav1.IsControlledBy(&pods[i], job) {
			out = append(out, &pods[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp)
	})
	return out
}

// terminated returns the pod's container's final state, if it ended.
func terminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Terminated != nil {
			return cs.State.Terminated
		}
	}
	return nil
}

// datasetStatus adds up what the pods of a dataset's Job report: per file
// index, the summary of its succeeded pod, else of its newest pod (a run
// id's summary counts all its attempts), else the progress a running pod
// annotated. It also returns the files' summed progress, from 0 to files.
func datasetStatus(ds haulv1alpha1.Dataset, files int32, job *batchv1.Job, pods []corev1.Pod) (haulv1alpha1.DatasetStatus, float64) {
	st := haulv1alpha1.DatasetStatus{Name: ds, Files: files}
	if job == nil {
		return st, 0
	}
	st.Job = job.Name
	st.FilesDone = countIndexes(job.Status.CompletedIndexes)
	chosen := map[string]*corev1.Pod{}
	for _, p := range podsOf(job, pods) {
		index := p.Annotations[completionIndex]
		if prev, ok := chosen[index]; !ok || (p.Status.Phase == corev1.PodSucceeded && prev.Status.Phase != corev1.PodSucceeded) {
			chosen[index] = p
		}
	}
	progress := 0.0
	for _, p := range chosen {
		if t := terminated(p); t != nil {
			if s, err := jobreport.Decode(t.Message); err == nil {
				st.Read += s.Read
				st.Loaded += s.Loaded
				st.Duplicates += s.Duplicates
				st.Rejected += s.Rejected
				for reason, n := range s.RejectedByReason {
					if st.RejectedByReason == nil {
						st.RejectedByReason = map[string]int64{}
					}
					st.RejectedByReason[reason] += n
				}
			}
			if p.Status.Phase == corev1.PodSucceeded {
				progress++
			}
			continue
		}
		if a, ok := p.Annotations[jobreport.ProgressAnnotation]; ok {
			if pr, err := jobreport.DecodeProgress(a); err == nil {
				st.Read += pr.Read
				st.Loaded += pr.Loaded
				st.Rejected += pr.Rejected
				progress += pr.Fraction()
			}
		}
	}
	return st, min(progress, float64(files))
}

// failure says why a failed Job failed: the summary its last failed pod
// wrote, else that pod's log tail, else the Job's condition.
func failure(job *batchv1.Job, cond *batchv1.JobCondition, pods []corev1.Pod, fallback string) (reason, message string) {
	reason, message = fallback, fmt.Sprintf("job %s failed: %s: %s", job.Name, cond.Reason, cond.Message)
	if cond.Reason == batchv1.JobReasonDeadlineExceeded {
		reason = ReasonDeadlineExceeded
	}
	for _, p := range podsOf(job, pods) {
		t := terminated(p)
		if p.Status.Phase != corev1.PodFailed || t == nil || t.Message == "" {
			continue
		}
		if s, err := jobreport.Decode(t.Message); err == nil {
			// Only the reasons a run can act on; anything else in a pod's
			// message must not reach a condition's reason.
			if s.Reason == jobreport.ReasonTooManyRejects || s.Reason == jobreport.ReasonInputError {
				reason = s.Reason
			}
			if s.Message != "" {
				return reason, fmt.Sprintf("%s (pod %s): %s", s.RunID, p.Name, s.Message)
			}
			continue
		}
		return reason, fmt.Sprintf("pod %s exited %d: %s", p.Name, t.ExitCode, strings.TrimSpace(t.Message))
	}
	return reason, message
}

// step is what a pass does next.
type step struct {
	// create is the Job to create, if any.
	create jobRole
	// phase is the run's phase after this pass.
	phase haulv1alpha1.Phase
	// reason and message explain a failure.
	reason, message string
}

// observe rebuilds the run's status from its Jobs and pods, and decides
// the next step. The run must have started (left the queue).
func observe(run *haulv1alpha1.IngestionRun, ch children) step {
	st := &run.Status
	var datasets []haulv1alpha1.DatasetStatus
	var done, files float64
	next := step{phase: haulv1alpha1.PhaseIngesting}
	decided := false
	ingested := true
	for _, ds := range run.Datasets() {
		role := datasetRoles[ds]
		job := ch.jobs[role]
		n := int32(len(run.Spec.Sources.Files(ds)))
		d, progress := datasetStatus(ds, n, job, ch.pods)
		state, cond := stateOf(job)
		// Pods of a finished Job may be gone: keep the counts recorded
		// when it finished.
		if prev := findDataset(st.Datasets, ds); prev != nil && state != jobRunning && job != nil && prev.FilesDone >= d.FilesDone && prev.Read > d.Read {
			d = *prev
		}
		datasets = append(datasets, d)
		files += float64(n)
		if state == jobComplete {
			progress = float64(n)
		}
		done += progress
		if state != jobComplete {
			ingested = false
		}
		if decided {
			continue
		}
		switch state {
		case jobMissing:
			next.create, decided = role, true
		case jobRunning:
			decided = true
		case jobFailed:
			next.phase = haulv1alpha1.PhaseFailed
			next.reason, next.message = failure(job, cond, ch.pods, ReasonIngestFailed)
			decided = true
		}
	}
	st.Datasets = datasets
	st.Loaded, st.Rejected = 0, 0
	for _, d := range datasets {
		st.Loaded += d.Loaded
		st.Rejected += d.Rejected
	}
	if files > 0 {
		st.Progress = fmt.Sprintf("%d%%", int(100*done/files))
	}
	if job := ch.jobs[rolePrecalc]; job != nil {
		st.PrecalcJob = job.Name
	}

	setCondition(run, haulv1alpha1.ConditionQueued, metav1.ConditionFalse, ReasonStarted, "the run left the queue")
	switch {
	case ingested:
		setCondition(run, haulv1alpha1.ConditionIngested, metav1.ConditionTrue, ReasonIngested, "every dataset is loaded")
	case next.phase == haulv1alpha1.PhaseFailed:
		setCondition(run, haulv1alpha1.ConditionIngested, metav1.ConditionFalse, next.reason, next.message)
	default:
		setCondition(run, haulv1alpha1.ConditionIngested, metav1.ConditionFalse, ReasonIngesting, "loading "+st.Progress)
	}
	if !ingested {
		if next.phase == haulv1alpha1.PhaseFailed {
			setCondition(run, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, next.reason, "not run: the load failed")
		} else {
			setCondition(run, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPending, "waiting for the load")
		}
		return next
	}

	if !run.PrecalcEnabled() {
		setCondition(run, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalcDisabled, "spec.precalc is false")
		return step{phase: haulv1alpha1.PhaseSucceeded}
	}
	job := ch.jobs[rolePrecalc]
	state, cond := stateOf(job)
	switch state {
	case jobMissing:
		setCondition(run, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalculating, "starting the refresh")
		return step{phase: haulv1alpha1.PhasePrecalculating, create: rolePrecalc}
	case jobRunning:
		setCondition(run, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalculating, "job "+job.Name+" refreshes the aggregates")
		return step{phase: haulv1alpha1.PhasePrecalculating}
	case jobFailed:
		reason, message := failure(job, cond, ch.pods, ReasonPrecalcFailed)
		setCondition(run, haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, reason, message)
		return step{phase: haulv1alpha1.PhaseFailed, reason: reason, message: message}
	}
	setCondition(run, haulv1alpha1.ConditionPrecalculated, metav1.ConditionTrue, ReasonPrecalculated, "the aggregates include the run")
	return step{phase: haulv1alpha1.PhaseSucceeded}
}

// finish records the run's outcome once its phase is final.
func finish(run *haulv1alpha1.IngestionRun, next step, now metav1.Time) {
	st := &run.Status
	st.Phase = next.phase
	switch next.phase {
	case haulv1alpha1.PhaseSucceeded:
		st.CompletionTime = &now
		st.Progress = "100%"
		setCondition(run, haulv1alpha1.ConditionSucceeded, metav1.ConditionTrue, ReasonSucceeded, "the run succeeded")
	case haulv1alpha1.PhaseFailed:
		st.CompletionTime = &now
		st.Reason, st.Message = next.reason, next.message
		setCondition(run, haulv1alpha1.ConditionSucceeded, metav1.ConditionFalse, next.reason, next.message)
	default:
		setCondition(run, haulv1alpha1.ConditionSucceeded, metav1.ConditionUnknown, string(next.phase), "the run is "+strings.ToLower(string(next.phase)))
	}
}

func findDataset(list []haulv1alpha1.DatasetStatus, ds haulv1alpha1.Dataset) *haulv1alpha1.DatasetStatus {
	for i := range list {
		if list[i].Name == ds {
			return &list[i]
		}
	}
	return nil
}

// maxConditionMessage keeps conditions readable; the API server allows 32 KiB.
const maxConditionMessage = 1024

func setCondition(run *haulv1alpha1.IngestionRun, typ string, status metav1.ConditionStatus, reason, message string) {
	message = shorten(message, maxConditionMessage)
	meta.SetStatusCondition(&run.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: run.Generation,
	})
}

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-len("…")], "") + "…"
}
