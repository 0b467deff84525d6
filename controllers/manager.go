package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
)

// ManagerOptions configure NewManager.
type ManagerOptions struct {
	// MetricsAddr and ProbeAddr serve /metrics and /healthz, /readyz;
	// "0" turns one off.
	MetricsAddr, ProbeAddr string
	// SecureMetrics serves /metrics over HTTPS to callers the API server
	// authenticates (TokenReview) and authorizes (SubjectAccessReview for
	// get on the /metrics URL), as kubebuilder projects do; false serves
	// plain HTTP to anyone.
	SecureMetrics  bool
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease; empty means the pod's own.
	LeaderElectionNamespace string
	// Namespace limits the controller to one namespace; empty means all.
	Namespace               string
	MaxConcurrentReconciles int
	// Reconciler is the reconciler's configuration; NewManager fills in its
	// client, recorder and metrics.
	Reconciler IngestionRunReconciler
	// SkipNameValidation lets one process build several managers, as the
	// tests do: controller-runtime otherwise refuses a second controller
	// named "ingestionrun".
	SkipNameValidation bool
}

// LeaderElectionID names the Lease replicas compete for.
const LeaderElectionID = "haul-controller.analytics.haul.dev"

func metricsOptions(o ManagerOptions) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.SecureMetrics {
		// A self-signed certificate unless one is mounted; scrapers verify
		// the caller, not the other way round.
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

// NewScheme knows the types the controller reads and writes.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := haulv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// NewManager builds the manager running the IngestionRun controller, with
// its indexes, probes and metrics; `haul controller` and the tests share it.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	// Only the Jobs and pods the controller made are cached, not every
	// Job and pod of the cluster.
	ours := labels.SelectorFromSet(labels.Set{labelManagedBy: managedBy})
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&batchv1.Job{}: {Label: ours},
		&corev1.Pod{}:  {Label: ours},
	}}
	if o.Namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{o.Namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsOptions(o),
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Controller: config.Controller{
			MaxConcurrentReconciles: max(1, o.MaxConcurrentReconciles),
			SkipNameValidation:      ptr.To(o.SkipNameValidation),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	if err := SetupIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	r := o.Reconciler
	r.Client = mgr.GetClient()
	r.APIReader = mgr.GetAPIReader()
	r.Recorder = mgr.GetEventRecorder("haul-controller")
	if r.Metrics == nil {
		r.Metrics = NewMetrics(metrics.Registry)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up the ingestionrun controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("cache", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches not synced")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return mgr, nil
}
