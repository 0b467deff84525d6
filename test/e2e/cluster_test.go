//go:build cluster

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/controllers"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/db/localpg"
	"github.com/haul-dev/haul/internal/jobreport"
	"github.com/haul-dev/haul/internal/testutil"
)

// What `make test-cluster` passes from hack/cluster.sh: the admin
// kubeconfig and the address pods reach the host at.
const (
	envKubeconfig = "HAUL_CLUSTER_KUBECONFIG"
	envHostIP     = "HAUL_CLUSTER_HOST_IP"
	envPodCIDR    = "HAUL_CLUSTER_POD_CIDR"
	envShipments  = "HAUL_CLUSTER_SHIPMENTS"
	chartDir      = "../../charts/haul"
)

// cluster is a real node (hack/cluster.sh): a kubelet running containers
// of the haul:dev image under containerd, the real Job controller, garbage
// collector and scheduler, and PostgreSQL on the host.
type cluster struct {
	kubeconfig string
	cfg        *rest.Config
	c          client.Client
	cs         kubernetes.Interface
	hostIP     string
	pg         *localpg.Cluster
	chart      *chart.Chart // the chart under test, installed and upgraded
}

// The chart installed with the Helm SDK on a real node, the sample
// IngestionRun applied as written over `haul gen --faults` data on a
// hostPath PersistentVolume, and everything a real kubelet and the real
// Job controller decide: read-only root, the numeric non-root user,
// service-account tokens, volume mounts, termination messages, pod
// deletion, garbage collection. Then helm upgrade and uninstall leave
// nothing behind.
func TestCluster(t *testing.T) {
	k := connect(t)
	ctx := t.Context()
	haul := buildHaul(t)

	// Input and rejects live on the host, mounted by hostPath PVs: the
	// image's user (65532) reads the one and writes the other.
	input, rejects := hostDir(t), hostDir(t)
	if err := os.Chown(rejects, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	shipments := os.Getenv(envShipments)
	if shipments == "" {
		shipments = "20000"
	}
	mustRun(t, haul, "gen", "--out", input, "--shipments", shipments, "--faults", "0.01", "--vehicles", "200", "--seed", "2")
	key := readAnswerKey(t, input)
	broken := testutil.ReadFile(t, filepath.Join(input, "shipments.json"))
	writeFile(t, filepath.Join(input, "broken.json"), broken[:len(broken)/2])

	// One database for the release (migrated by the chart's hook), one
	// for a second run of the same data.
	k.pg = startPostgres(t, k.hostIP)
	admin := dbtest.Pool(t, k.pg.URL("postgres"))
	for _, db := range []string{"haul", "haul_again"} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, haul, "migrate", "--database-url", k.pg.URL("haul_again"))
	podURL := func(db string) string {
		return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", localpg.Superuser, k.hostIP, k.pg.Port, db)
	}

	before := k.snapshot(t)
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "haul-database", Namespace: namespace},
			StringData: map[string]string{"url": podURL("haul")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "haul-database-again", Namespace: namespace},
			StringData: map[string]string{"url": podURL("haul_again")}},
	} {
		k.create(t, obj)
	}
	k.hostPathClaim(t, "haul-input", input)
	k.hostPathClaim(t, "haul-rejects", rejects)

	values := map[string]any{
		"image":    map[string]any{"repository": "haul", "tag": "dev", "pullPolicy": "Never"},
		"database": map[string]any{"existingSecret": "haul-database"},
	}
	k.helmInstall(t, values)

	t.Run("sample", func(t *testing.T) {
		sample := readSample(t)
		sample.Namespace = namespace
		k.apply(t, sample)
		done := waitRun(t, k.c, "sample", (*haulv1alpha1.IngestionRun).IsFinished)
		if done.Status.Phase != haulv1alpha1.PhaseSucceeded {
			k.dump(t, done)
			t.Fatalf("sample run %s: %s: %s", done.Status.Phase, done.Status.Reason, done.Status.Message)
		}
		checkCounts(t, done, key)
		checkDatabase(t, k.pg.URL("haul"), key)
		checkRejects(t, rejects, done, key)
		checkProgressAnnotations(t, k.c, done)
		checkEvents(t, k.c, done)
		k.checkAPI(t, key.From, key.To)
	})

	t.Run("pod deleted mid-run", func(t *testing.T) {
		again := readSample(t)
		again.Name, again.Namespace = "again", namespace
		again.Spec.Database.SecretName = "haul-database-again"
		k.apply(t, again)
		deleted := k.deleteIngestPod(t, again.Name)
		done := waitRun(t, k.c, again.Name, (*haulv1alpha1.IngestionRun).IsFinished)
		if done.Status.Phase != haulv1alpha1.PhaseSucceeded {
			k.dump(t, done)
			t.Fatalf("run %s: %s: %s", done.Name, done.Status.Phase, done.Status.Reason)
		}
		if deleted.interrupted {
			k.checkReplaced(t, deleted.Pod)
		} else {
			t.Logf("pod %s had finished its file when it was deleted: raise %s for a harder case", deleted.Name, envShipments)
		}
		// The status shows what the last pod of each Job reported: after a
		// replacement resumed the file, only the rest of it.
		t.Logf("status after the deletion: loaded %d rejected %d", done.Status.Loaded, done.Status.Rejected)
		clean, rerun := tableRows(t, k.pg.URL("haul")), tableRows(t, k.pg.URL("haul_again"))
		if diff := strings.Join(diffRows(clean, rerun), "\n"); diff != "" {
			t.Errorf("tables after a pod deleted mid-run differ from a clean run's:\n%s", diff)
		}
	})

	t.Run("truncated file", func(t *testing.T) {
		run := readSample(t)
		run.Name, run.Namespace = "broken", namespace
		run.Spec.Sources = haulv1alpha1.Sources{Shipments: []haulv1alpha1.Source{"broken.json"}}
		k.apply(t, run)
		failed := waitRun(t, k.c, run.Name, (*haulv1alpha1.IngestionRun).IsFinished)
		if failed.Status.Phase != haulv1alpha1.PhaseFailed || failed.Status.Reason != jobreport.ReasonInputError ||
			!strings.Contains(failed.Status.Message, "broken.json") {
			t.Errorf("run of a truncated file: %s, reason %q, message %q; want Failed, InputError, naming the file",
				failed.Status.Phase, failed.Status.Reason, failed.Status.Message)
		}
		if jobs := k.runJobs(t, failed); len(jobs) != 1 {
			t.Errorf("failed run has %d jobs, want its shipments Job only (no precalc)", len(jobs))
		}
	})

	t.Run("deleting a run deletes its jobs and pods", func(t *testing.T) {
		var run haulv1alpha1.IngestionRun
		if err := k.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "again"}, &run); err != nil {
			t.Fatal(err)
		}
		if len(k.runJobs(t, &run)) == 0 || len(k.runPods(t, &run)) == 0 {
			t.Fatal("the run has no Jobs or pods to delete")
		}
		if err := k.c.Delete(ctx, &run); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the run's Jobs and pods deleted", func() bool {
			return len(k.runJobs(t, &run)) == 0 && len(k.runPods(t, &run)) == 0
		})
	})

	t.Run("helm upgrade and uninstall leave nothing behind", func(t *testing.T) {
		// Runs are the user's: delete them first, and their Jobs go.
		if err := k.c.DeleteAllOf(ctx, &haulv1alpha1.IngestionRun{}, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		upgraded := map[string]any{
			"image":    values["image"],
			"database": values["database"],
			"api":      map[string]any{"replicas": 2},
			"listener": map[string]any{"enabled": false},
		}
		k.helmUpgrade(t, upgraded)
		eventually(t, time.Minute, "the listener's pods gone after the upgrade", func() bool {
			return len(k.podsOf(t, "listener")) == 0
		})
		eventually(t, time.Minute, "2 API pods after the upgrade", func() bool { return len(k.podsOf(t, "api")) == 2 })
		k.helmUninstall(t)
		// Objects the test itself made are the user's; Helm never deletes
		// the CRDs of a chart's crds/ folder (nor so the API server its
		// APIService for their group).
		ours := map[string]bool{"CustomResourceDefinition/ingestionruns.analytics.haul.dev": true,
			"APIService/" + haulv1alpha1.GroupVersion.Version + "." + haulv1alpha1.GroupVersion.Group: true,
			"Secret/haul-database": true, "Secret/haul-database-again": true,
			"PersistentVolumeClaim/haul-input": true, "PersistentVolumeClaim/haul-rejects": true,
			"PersistentVolume/" + pvName("haul-input"): true, "PersistentVolume/" + pvName("haul-rejects"): true}
		var left []string
		eventually(t, time.Minute, "no objects left by the release", func() bool {
			if left != nil {
				t.Logf("left behind after helm uninstall: %v", left)
			}
			left = nil
			for _, o := range k.snapshot(t) {
				if !slices.Contains(before, o) && !ours[o] {
					left = append(left, o)
				}
			}
			return len(left) == 0
		})
		if len(left) > 0 {
			t.Errorf("left behind after helm uninstall: %v", left)
		}
	})
}

// connect reads the cluster from the environment make test-cluster sets, and
// loads the chart.
func connect(t *testing.T) *cluster {
	t.Helper()
	k := &cluster{kubeconfig: os.Getenv(envKubeconfig), hostIP: os.Getenv(envHostIP)}
	if k.kubeconfig == "" || k.hostIP == "" {
		t.Fatalf("%s and %s are unset: run make test-cluster", envKubeconfig, envHostIP)
	}
	var err error
	if k.cfg, err = clientcmd.BuildConfigFromFlags("", k.kubeconfig); err != nil {
		t.Fatal(err)
	}
	scheme, err := controllers.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if k.c, err = client.New(k.cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	if k.cs, err = kubernetes.NewForConfig(k.cfg); err != nil {
		t.Fatal(err)
	}
	if k.chart, err = loader.Load(chartDir); err != nil {
		t.Fatal(err)
	}
	return k
}

// apply creates obj, left for later subtests.
func (k *cluster) apply(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k.c.Create(t.Context(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// create creates obj and deletes it when t ends.
func (k *cluster) create(t *testing.T, obj client.Object) {
	t.Helper()
	k.apply(t, obj)
	t.Cleanup(func() {
		err := k.c.Delete(context.Background(), obj)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s: %v", obj.GetName(), err)
		}
	})
}

// hostDir is a folder the node's pods may mount: t.TempDir's own mode is
// 0700.
func hostDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func pvName(claim string) string { return "e2e-" + claim }

// hostPathClaim makes claim name in the test namespace, bound (by the
// real persistent-volume controller) to a hostPath PV of dir.
func (k *cluster) hostPathClaim(t *testing.T, name, dir string) {
	t.Helper()
	size := resource.MustParse("1Gi")
	k.create(t, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName(name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			ClaimRef:                      &corev1.ObjectReference{Namespace: namespace, Name: name},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: dir, Type: ptrTo(corev1.HostPathDirectory)}},
		},
	})
	k.create(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptrTo(""),
			VolumeName:       pvName(name),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	})
}

func ptrTo[T any](v T) *T { return &v }

// startPostgres starts a throwaway server that pods reach: it listens on
// the host's bridge address too, and trusts the pod subnet.
func startPostgres(t *testing.T, hostIP string) *localpg.Cluster {
	t.Helper()
	cidr := os.Getenv(envPodCIDR)
	if cidr == "" {
		t.Fatalf("%s is unset: run make test-cluster", envPodCIDR)
	}
	// Outside t.TempDir, whose parent the postgres user may not enter.
	dir, err := os.MkdirTemp("", "haul-e2e-hba-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(dir, "pg_hba.conf")
	writeFile(t, hba, []byte("local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all "+cidr+" trust\n"))
	pg, err := localpg.Start(t.Context(), localpg.Options{Settings: map[string]string{
		"listen_addresses": "127.0.0.1," + hostIP,
		"hba_file":         hba,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return pg
}

// --- Helm -------------------------------------------------------------------

func (k *cluster) helm(t *testing.T) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &k.kubeconfig, ptrTo(namespace)
	var cfg action.Configuration
	if err := cfg.Init(flags, namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

const helmTimeout = 3 * time.Minute

func (k *cluster) helmInstall(t *testing.T, values map[string]any) {
	t.Helper()
	install := action.NewInstall(k.helm(t))
	install.ReleaseName, install.Namespace = releaseName, namespace
	install.Wait, install.Timeout = true, helmTimeout
	if _, err := install.RunWithContext(t.Context(), k.chart, values); err != nil {
		k.dump(t, nil)
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() {
		uninstall := action.NewUninstall(k.helm(t))
		uninstall.IgnoreNotFound = true
		if _, err := uninstall.Run(releaseName); err != nil {
			t.Errorf("helm uninstall: %v", err)
		}
	})
}

func (k *cluster) helmUpgrade(t *testing.T, values map[string]any) {
	t.Helper()
	upgrade := action.NewUpgrade(k.helm(t))
	upgrade.Namespace, upgrade.Wait, upgrade.Timeout = namespace, true, helmTimeout
	if _, err := upgrade.RunWithContext(t.Context(), releaseName, k.chart, values); err != nil {
		k.dump(t, nil)
		t.Fatalf("helm upgrade: %v", err)
	}
}

func (k *cluster) helmUninstall(t *testing.T) {
	t.Helper()
	uninstall := action.NewUninstall(k.helm(t))
	uninstall.Wait, uninstall.Timeout = true, helmTimeout
	if _, err := uninstall.Run(releaseName); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
}

const releaseName = "haul"

// --- what the node did --------------------------------------------------------

func (k *cluster) runJobs(t *testing.T, run *haulv1alpha1.IngestionRun) []batchv1.Job {
	t.Helper()
	var jobs batchv1.JobList
	if err := k.c.List(t.Context(), &jobs, client.InNamespace(namespace), client.MatchingLabels{controllers.LabelRunUID: string(run.UID)}); err != nil {
		t.Fatal(err)
	}
	return jobs.Items
}

func (k *cluster) runPods(t *testing.T, run *haulv1alpha1.IngestionRun) []corev1.Pod {
	t.Helper()
	return k.pods(t, client.MatchingLabels{controllers.LabelRunUID: string(run.UID)})
}

// podsOf lists the pods of a chart component.
func (k *cluster) podsOf(t *testing.T, component string) []corev1.Pod {
	t.Helper()
	return k.pods(t, client.MatchingLabels{"app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": component})
}

func (k *cluster) pods(t *testing.T, labels client.MatchingLabels) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := k.c.List(t.Context(), &pods, client.InNamespace(namespace), labels); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// deletedPod is an ingest pod the test deleted, as it last was.
type deletedPod struct {
	corev1.Pod
	interrupted bool // it ended other than by finishing its file
}

// deleteIngestPod deletes the run's shipments pod (the longest) once its
// container runs, as a node drain or an eviction would, and waits until the
// kubelet has stopped it.
func (k *cluster) deleteIngestPod(t *testing.T, name string) deletedPod {
	t.Helper()
	run := waitRun(t, k.c, name, func(r *haulv1alpha1.IngestionRun) bool { return r.UID != "" })
	var victim corev1.Pod
	eventually(t, 2*time.Minute, "the run's shipments pod running", func() bool {
		for _, p := range k.runPods(t, run) {
			if p.Labels[controllers.LabelRole] == "shipments" && p.Status.Phase == corev1.PodRunning {
				victim = p
				return true
			}
		}
		return false
	})
	if err := k.c.Delete(t.Context(), &victim); err != nil {
		t.Fatal(err)
	}
	last := victim
	eventually(t, time.Minute, "the deleted pod gone", func() bool {
		var p corev1.Pod
		err := k.c.Get(t.Context(), client.ObjectKeyFromObject(&victim), &p)
		if err == nil {
			last = p
		}
		return apierrors.IsNotFound(err)
	})
	finished := last.Status.Phase == corev1.PodSucceeded
	t.Logf("deleted pod %s while it ran; it ended %s", victim.Name, last.Status.Phase)
	return deletedPod{Pod: victim, interrupted: !finished}
}

// checkReplaced: the Job controller ran another pod for the deleted one's
// index, and that one finished the file.
func (k *cluster) checkReplaced(t *testing.T, deleted corev1.Pod) {
	t.Helper()
	pods := k.pods(t, client.MatchingLabels{batchv1.JobNameLabel: deleted.Labels[batchv1.JobNameLabel]})
	for _, p := range pods {
		msg := ""
		if cs := p.Status.ContainerStatuses; len(cs) > 0 && cs[0].State.Terminated != nil {
			msg = fmt.Sprintf("exit %d: %s", cs[0].State.Terminated.ExitCode, cs[0].State.Terminated.Message)
		}
		t.Logf("pod %s of job %s: %s %s", p.Name, deleted.Labels[batchv1.JobNameLabel], p.Status.Phase, msg)
	}
	for _, p := range pods {
		if p.UID != deleted.UID && p.Status.Phase == corev1.PodSucceeded {
			return
		}
	}
	t.Errorf("no pod replaced %s (the deleted pod may have finished first: raise %s)", deleted.Name, envShipments)
}

// checkAPI asks the chart's API Service, through the API server's service
// proxy, for the shipments of the data's whole window.
func (k *cluster) checkAPI(t *testing.T, from, to string) {
	t.Helper()
	var want int64
	if err := dbtest.Pool(t, k.pg.URL("haul")).QueryRow(t.Context(),
		"SELECT count(*) FROM shipments WHERE trip_date BETWEEN $1 AND $2", from, to).Scan(&want); err != nil {
		t.Fatal(err)
	}
	body, err := k.cs.CoreV1().Services(namespace).ProxyGet("http", releaseName, "http", "/api/shipments/analytics",
		map[string]string{"start": from, "end": to}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("GET /api/shipments/analytics through Service %s: %v\n%s", releaseName, err, body)
	}
	var got struct {
		Overview struct {
			TotalShipments int64 `json:"total_shipments"`
		} `json:"overview"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Overview.TotalShipments != want || want == 0 {
		t.Errorf("the API counts %d shipments from %s to %s; the database holds %d", got.Overview.TotalShipments, from, to, want)
	}
}

// snapshot lists every object the API serves in the test's namespace and
// cluster-wide, as Kind/name, but events and what the node itself keeps
// up to date.
func (k *cluster) snapshot(t *testing.T) []string {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{"Event": true, "Node": true, "ComponentStatus": true, "Endpoints": true}
	var out []string
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if skip[r.Kind] || !slices.Contains(r.Verbs, "list") {
				continue
			}
			ri := dyn.Resource(gv.WithResource(r.Name))
			var lister dynamic.ResourceInterface = ri
			if r.Namespaced {
				lister = ri.Namespace(namespace)
			}
			l, err := lister.List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list %s: %v", r.Name, err)
			}
			for _, o := range l.Items {
				out = append(out, r.Kind+"/"+o.GetName())
			}
		}
	}
	return out
}

// dump logs what a failing run's Jobs and pods say.
func (k *cluster) dump(t *testing.T, run *haulv1alpha1.IngestionRun) {
	t.Helper()
	var pods corev1.PodList
	if err := k.c.List(context.Background(), &pods, client.InNamespace(namespace)); err != nil {
		t.Logf("list pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		if run != nil && p.Labels[controllers.LabelRunUID] != string(run.UID) {
			continue
		}
		b, _ := json.Marshal(p.Status.ContainerStatuses)
		t.Logf("pod %s: %s %s", p.Name, p.Status.Phase, b)
		logs, err := k.cs.CoreV1().Pods(namespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptrTo(int64(20))}).DoRaw(context.Background())
		t.Logf("logs of %s (%v):\n%s", p.Name, err, logs)
	}
}

// eventually polls cond every 200 ms until it holds, failing the test after
// timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	}) != nil {
		t.Fatalf("not after %s: %s", timeout, what)
	}
}

// tableRows: each raw table's rows as JSON text, sorted by byte.
func tableRows(t *testing.T, url string) map[string][]string {
	t.Helper()
	pool := dbtest.Pool(t, url)
	out := map[string][]string{}
	for _, table := range []string{"vehicles", "vehicle_logs", "shipments"} {
		// run_id says which run loaded a vehicle, load_batch which batch
		// loaded a log or a shipment: not the data. Batches take their
		// numbers from a sequence, and a batch the deletion rolled back
		// has used one, so the rerun's later batches are numbered apart.
		rows, err := pool.Query(t.Context(), "SELECT (to_jsonb(r) - 'run_id' - 'load_batch')::text FROM "+table+" r")
		if err != nil {
			t.Fatal(err)
		}
		if out[table], err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out[table]) // by byte, as sortedOnly compares
	}
	return out
}

// diffRows describes how the tables of b differ from a's: row counts and
// a few rows only one of them holds.
func diffRows(a, b map[string][]string) []string {
	var out []string
	for table, rows := range a {
		onlyA, onlyB := sortedOnly(rows, b[table]), sortedOnly(b[table], rows)
		if len(onlyA)+len(onlyB) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s: clean %d rows, after the deletion %d; only in the clean run %d, e.g. %q; only after the deletion %d, e.g. %q",
			table, len(rows), len(b[table]), len(onlyA), onlyA[:min(3, len(onlyA))], len(onlyB), onlyB[:min(3, len(onlyB))]))
	}
	if len(a) == 0 {
		out = append(out, "no tables")
	}
	return out
}

// sortedOnly returns the rows of sorted a that sorted b lacks.
func sortedOnly(a, b []string) []string {
	var out []string
	j := 0
	for _, r := range a {
		for j < len(b) && b[j] < r {
			j++
		}
		if j < len(b) && b[j] == r {
			j++
			continue
		}
		out = append(out, r)
	}
	return out
}
