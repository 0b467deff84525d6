package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haul-dev/haul/internal/testutil"
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
	testutil.Background(t, "run jobs", r.Run)
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
