package app

import (
	"fmt"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/haul-dev/haul/controllers"
)

type controllerFlags struct {
	kubeconfig     string
	metricsAddr    string
	metricsSecure  bool
	probeAddr      string
	leaderElect    bool
	leaderNS       string
	namespace      string
	jobImage       string
	jobSA          string
	maxActive      int
	annotatePods   bool
	maxConcurrency int
	jobRequests    map[string]string
	jobLimits      map[string]string
	// version is the binary's, e.g. for the default Job image tag.
	version string
}

func newControllerCmd(build Build) *cobra.Command {
	f := controllerFlags{version: build.Version}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the IngestionRun operator",
		Long: `Watch IngestionRuns (analytics.haul.dev/v1alpha1) and run each: one Indexed
Job per dataset (vehicles, then vehicle_logs, then shipments), one pod per file
running haul ingest, then a Job running haul precalc; their pods' summaries and
progress go to the run's status. Runs naming the same database Secret queue.
The Kubernetes API is reached in-cluster, or through --kubeconfig or $KUBECONFIG.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runController(cmd, &f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443", `serve Prometheus metrics here ("0" for none)`)
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true, "serve metrics over HTTPS to callers the Kubernetes API authenticates and authorizes (get on /metrics); false: plain HTTP to anyone")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "serve /healthz and /readyz here")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "elect a leader among replicas (a Lease), so one reconciles at a time")
	fs.StringVar(&f.leaderNS, "leader-election-namespace", "", "namespace of the Lease (default: the pod's own)")
	fs.StringVar(&f.namespace, "namespace", "", "watch only this namespace (default: all)")
	fs.StringVar(&f.jobImage, "job-image", "haul:"+f.version, "image of the Jobs' pods when a run names none")
	fs.StringVar(&f.jobSA, "job-service-account", "", "service account of the Jobs' pods when a run names none (default: the namespace's default)")
	fs.IntVar(&f.maxActive, "max-active-per-database", 1, "runs loading into one database at once; later ones queue")
	fs.BoolVar(&f.annotatePods, "job-progress-annotations", true, "have ingest pods annotate themselves with their progress (their service account needs get and patch on pods)")
	fs.IntVar(&f.maxConcurrency, "max-concurrent-reconciles", 1, "runs reconciled at once")
	fs.StringToStringVar(&f.jobRequests, "job-requests", map[string]string{"cpu": "500m", "memory": "512Mi"},
		"resource requests of the Jobs' containers when a run sets no resources (e.g. cpu=500m,memory=512Mi)")
	fs.StringToStringVar(&f.jobLimits, "job-limits", nil,
		"resource limits of the Jobs' containers when a run sets no resources (e.g. memory=2Gi)")
	return cmd
}

func runController(cmd *cobra.Command, f *controllerFlags) error {
	if f.maxActive < 1 || f.maxConcurrency < 1 {
		return usagef("--max-active-per-database and --max-concurrent-reconciles must be at least 1")
	}
	requests, err := resourceList("--job-requests", f.jobRequests)
	if err != nil {
		return err
	}
	limits, err := resourceList("--job-limits", f.jobLimits)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	log := logr.FromContextOrDiscard(ctx)
	// controller-runtime and client-go log through these package loggers.
	ctrl.SetLogger(log)
	klog.SetLogger(log)

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubernetes api configuration: %w", err)
	}
	mgr, err := controllers.NewManager(cfg, controllers.ManagerOptions{
		MetricsAddr: f.metricsAddr, SecureMetrics: f.metricsSecure, ProbeAddr: f.probeAddr, LeaderElection: f.leaderElect,
		LeaderElectionNamespace: f.leaderNS, Namespace: f.namespace, MaxConcurrentReconciles: f.maxConcurrency,
		Reconciler: controllers.IngestionRunReconciler{
			Jobs: controllers.JobConfig{Image: f.jobImage, ServiceAccountName: f.jobSA, AnnotateProgress: f.annotatePods,
				Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}},
			MaxActivePerDatabase: f.maxActive,
		},
	})
	if err != nil {
		return err
	}
	log.Info("starting controller", "version", f.version, "jobImage", f.jobImage, "namespace", f.namespace)
	return mgr.Start(ctx)
}

// resourceList parses NAME=QUANTITY pairs of a flag.
func resourceList(flag string, pairs map[string]string) (corev1.ResourceList, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for name, q := range pairs {
		v, err := resource.ParseQuantity(q)
		if err != nil {
			return nil, usagef("%s %s=%s: %v", flag, name, q, err)
		}
		out[corev1.ResourceName(name)] = v
	}
	return out, nil
}
