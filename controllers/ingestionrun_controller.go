// Package controllers holds the IngestionRun reconciler: it runs a run's
// ingest Jobs one dataset at a time, then its precalc Job, and reports what
// their pods did in the run's status.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
)

// Index keys, registered by SetupIndexes.
const (
	jobOwnerKey    = ".metadata.controller"
	runDatabaseKey = ".spec.database"
)

// SetupIndexes registers the cache indexes the reconciler lists by: Jobs
// by the UID of the run controlling them, runs by their database.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &batchv1.Job{}, jobOwnerKey, func(o client.Object) []string {
		owner := metav1.GetControllerOf(o)
		if owner == nil || owner.APIVersion != haulv1alpha1.GroupVersion.String() || owner.Kind != "IngestionRun" {
			return nil
		}
		return []string{string(owner.UID)}
	}); err != nil {
		return fmt.Errorf("index jobs by owner: %w", err)
	}
	if err := indexer.IndexField(ctx, &haulv1alpha1.IngestionRun{}, runDatabaseKey, func(o client.Object) []string {
		return []string{o.(*haulv1alpha1.IngestionRun).DatabaseKey()}
	}); err != nil {
		return fmt.Errorf("index runs by database: %w", err)
	}
	return nil
}

// IngestionRunReconciler runs IngestionRuns.
type IngestionRunReconciler struct {
	Client client.Client
	// APIReader reads around the cache, which holds only the controller's
	// own Jobs: it finds a Job of a run's Job name that someone else made.
	// Client when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Jobs      JobConfig
	// MaxActivePerDatabase is how many runs load into one database at once.
	MaxActivePerDatabase int
	Metrics              *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=analytics.haul.dev,resources=ingestionruns,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=analytics.haul.dev,resources=ingestionruns/status,verbs=get;update;patch
// Setting blockOwnerDeletion on the Jobs' owner reference needs this where
// the OwnerReferencesPermissionEnforcement admission plugin is on.
// +kubebuilder:rbac:groups=analytics.haul.dev,resources=ingestionruns/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Reconcile advances a run by one step: queue it, start it, create its
// next Job, or record how it ended; then writes its status once.
func (r *IngestionRunReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var run haulv1alpha1.IngestionRun
	if err := r.Client.Get(ctx, req.NamespacedName, &run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !run.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if run.IsFinished() {
		return r.expire(ctx, &run)
	}
	old := run.DeepCopy()
	result, err := r.reconcile(ctx, &run)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeStatus(ctx, old, &run); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

// reconcile is the checklist of a pass; it changes only run.Status.
func (r *IngestionRunReconciler) reconcile(ctx context.Context, run *haulv1alpha1.IngestionRun) (ctrl.Result, error) {
	if !run.IsStarted() {
		return r.enqueue(ctx, run)
	}
	ch, err := r.children(ctx, run)
	if err != nil {
		return ctrl.Result{}, err
	}
	next := observe(run, ch)
	if next.create != "" {
		if err := r.createJob(ctx, run, next.create); err != nil {
			switch {
			case isNotControlled(err):
				next = step{phase: haulv1alpha1.PhaseFailed, reason: ReasonJobNotControlled, message: err.Error()}
			case apierrors.IsInvalid(err):
				// The spec made a Job the API server refuses (say,
				// requests above limits): retrying cannot help.
				next = step{phase: haulv1alpha1.PhaseFailed, reason: ReasonJobInvalid, message: err.Error()}
			default:
				return ctrl.Result{}, err
			}
		}
	}
	finish(run, next, metav1.NewTime(r.now()))
	return ctrl.Result{}, nil
}

// enqueue starts the run when its database has room, else keeps it
// queued; the runs ahead of it requeue it when they end.
func (r *IngestionRunReconciler) enqueue(ctx context.Context, run *haulv1alpha1.IngestionRun) (ctrl.Result, error) {
	var others haulv1alpha1.IngestionRunList
	if err := r.Client.List(ctx, &others, client.InNamespace(run.Namespace),
		client.MatchingFields{runDatabaseKey: run.DatabaseKey()}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list runs on database %s: %w", run.DatabaseKey(), err)
	}
	ok, behind := admit(run, others.Items, max(1, r.MaxActivePerDatabase))
	run.Status.QueuedBehind = behind
	if !ok {
		run.Status.Phase = haulv1alpha1.PhaseQueued
		msg := fmt.Sprintf("waiting for run %s on database secret %s", behind, run.DatabaseKey())
		setCondition(run, haulv1alpha1.ConditionQueued, metav1.ConditionTrue, ReasonQueued, msg)
		setCondition(run, haulv1alpha1.ConditionSucceeded, metav1.ConditionUnknown, string(haulv1alpha1.PhaseQueued), msg)
		return ctrl.Result{}, nil
	}
	now := metav1.NewTime(r.now())
	run.Status.StartTime = &now
	run.Status.Phase = haulv1alpha1.PhaseIngesting
	setCondition(run, haulv1alpha1.ConditionQueued, metav1.ConditionFalse, ReasonStarted, "the run left the queue")
	setCondition(run, haulv1alpha1.ConditionSucceeded, metav1.ConditionUnknown, string(haulv1alpha1.PhaseIngesting), "the run is starting")
	return ctrl.Result{}, nil
}

// children lists the run's Jobs (by the owner index) and their pods.
func (r *IngestionRunReconciler) children(ctx context.Context, run *haulv1alpha1.IngestionRun) (children, error) {
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(run.Namespace), client.MatchingFields{jobOwnerKey: string(run.UID)}); err != nil {
		return children{}, fmt.Errorf("list jobs: %w", err)
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(run.Namespace), client.MatchingLabels{LabelRunUID: string(run.UID)}); err != nil {
		return children{}, fmt.Errorf("list pods: %w", err)
	}
	ch := children{jobs: map[jobRole]*batchv1.Job{}, pods: pods.Items}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		ch.jobs[jobRole(job.Labels[LabelRole])] = job
	}
	return ch, nil
}

// notControlledError is a Job of the run's name that the run does not
// control: the controller never adopts it.
type notControlledError struct{ name string }

func (e notControlledError) Error() string {
	return fmt.Sprintf("job %s exists and is not controlled by this run", e.name)
}

func isNotControlled(err error) bool {
	var nc notControlledError
	return errors.As(err, &nc)
}

func (r *IngestionRunReconciler) createJob(ctx context.Context, run *haulv1alpha1.IngestionRun, role jobRole) error {
	var job *batchv1.Job
	if role == rolePrecalc {
		job = precalcJob(run, r.Jobs)
	} else {
		for ds, dr := range datasetRoles {
			if dr == role {
				job = ingestJob(run, ds, r.Jobs)
			}
		}
	}
	if job == nil {
		return fmt.Errorf("no Job builds role %q", role)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("job", job.Name)
	err := r.Client.Create(ctx, job)
	if apierrors.IsAlreadyExists(err) {
		// The cache had not seen it yet, or someone else made it (and
		// the cache, which holds only our Jobs, never will).
		reader := r.APIReader
		if reader == nil {
			reader = r.Client
		}
		var existing batchv1.Job
		if err := reader.Get(ctx, client.ObjectKeyFromObject(job), &existing); err != nil {
			return fmt.Errorf("get job %s: %w", job.Name, err)
		}
		if !metav1.IsControlledBy(&existing, run) {
			return notControlledError{job.Name}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create job %s: %w", job.Name, err)
	}
	log.Info("created job", "role", role)
	r.Recorder.Eventf(run, job, corev1.EventTypeNormal, "JobCreated", "Create", "created job %s", job.Name)
	return nil
}

// writeStatus writes the status if the pass changed it, and reports the
// transition.
func (r *IngestionRunReconciler) writeStatus(ctx context.Context, old, run *haulv1alpha1.IngestionRun) error {
	if equality.Semantic.DeepEqual(old.Status, run.Status) {
		return nil
	}
	run.Status.ObservedGeneration = run.Generation
	if err := r.Client.Status().Patch(ctx, run, client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			// A newer version of the run is on its way: its event
			// brings the next pass.
			return nil
		}
		return fmt.Errorf("write status: %w", err)
	}
	if old.Status.Phase == run.Status.Phase {
		return nil
	}
	log := ctrl.LoggerFrom(ctx)
	log.Info("run moved", "from", old.Status.Phase, "to", run.Status.Phase)
	switch run.Status.Phase {
	case haulv1alpha1.PhaseFailed:
		r.Recorder.Eventf(run, nil, corev1.EventTypeWarning, run.Status.Reason, "Fail", "%s", shorten(run.Status.Message, maxEventNote))
	case haulv1alpha1.PhaseQueued:
		r.Recorder.Eventf(run, nil, corev1.EventTypeNormal, "Queued", "Queue", "waiting for run %s", run.Status.QueuedBehind)
	default:
		r.Recorder.Eventf(run, nil, corev1.EventTypeNormal, string(run.Status.Phase), "Advance", "run is %s", run.Status.Phase)
	}
	if run.IsFinished() && r.Metrics != nil {
		r.Metrics.finished(run)
	}
	return nil
}

// expire deletes a finished run, with its Jobs, once its TTL has passed.
func (r *IngestionRunReconciler) expire(ctx context.Context, run *haulv1alpha1.IngestionRun) (ctrl.Result, error) {
	ttl := run.Spec.TTLSecondsAfterFinished
	if ttl == nil || run.Status.CompletionTime == nil {
		return ctrl.Result{}, nil
	}
	left := run.Status.CompletionTime.Add(time.Duration(*ttl) * time.Second).Sub(r.now())
	if left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	ctrl.LoggerFrom(ctx).Info("deleting finished run", "ttlSecondsAfterFinished", *ttl)
	err := r.Client.Delete(ctx, run, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &run.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("delete expired run: %w", err)
	}
	return ctrl.Result{}, nil
}

// maxEventNote is the most an events.k8s.io Event's note holds.
const maxEventNote = 1024

func (r *IngestionRunReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager watches runs, their Jobs, the Jobs' pods (their
// summaries and progress), and the runs sharing a database (a run ending
// lets the next start).
func (r *IngestionRunReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&haulv1alpha1.IngestionRun{}).
		Owns(&batchv1.Job{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(runOfPod),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetLabels()[LabelRunUID] != ""
			}))).
		Watches(&haulv1alpha1.IngestionRun{}, handler.EnqueueRequestsFromMapFunc(r.queuedOnSameDatabase),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc: func(event.CreateEvent) bool { return false },
				UpdateFunc: func(e event.UpdateEvent) bool {
					run := e.ObjectNew.(*haulv1alpha1.IngestionRun)
					return run.IsFinished() || !run.DeletionTimestamp.IsZero()
				},
				DeleteFunc:  func(event.DeleteEvent) bool { return true },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		Named("ingestionrun").
		Complete(r)
}

func runOfPod(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetAnnotations()[AnnotationRun]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

func (r *IngestionRunReconciler) queuedOnSameDatabase(ctx context.Context, o client.Object) []reconcile.Request {
	run := o.(*haulv1alpha1.IngestionRun)
	var others haulv1alpha1.IngestionRunList
	if err := r.Client.List(ctx, &others, client.InNamespace(run.Namespace),
		client.MatchingFields{runDatabaseKey: run.DatabaseKey()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "cannot list the runs queued on a database", "database", run.DatabaseKey())
		return nil
	}
	var reqs []reconcile.Request
	for _, other := range others.Items {
		if !other.IsStarted() && !other.IsFinished() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&other)})
		}
	}
	return reqs
}
