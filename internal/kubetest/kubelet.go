package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// localIP is the Pod and host IP: the processes run on this machine.
	localIP = "127.0.0.1"
	// restartDelay stands in for the kubelet's crash-loop back-off.
	restartDelay = 200 * time.Millisecond
)

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
