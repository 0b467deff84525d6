// Package e2e tests Haul across its parts: here the operator, from the
// sample IngestionRun manifest to loaded rows and refreshed aggregates.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/controllers"
	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/jobreport"
	"github.com/haul-dev/haul/internal/kubetest"
	"github.com/haul-dev/haul/internal/testutil"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	namespace  = "default"
	sampleFile = "../../config/samples/analytics_v1alpha1_ingestionrun.yaml"
)

// The sample IngestionRun, applied as written to a real kube-apiserver with
// `haul controller` running as its own process, ends Succeeded with the
// counts of the generator's answer key, the rows in PostgreSQL and the
// aggregates refreshed. Every Job the controller creates is executed: its
// pods' commands run, exactly as the Job spec writes them, with the haul
// binary standing in for the image (kubetest.JobRunner plays the Job
// controller and the kubelet). A second run on the same database queues
// behind the first, then fails on a truncated file with the reason and
// position in its status.
func TestSampleIngestionRun(t *testing.T) {
	ctx := t.Context()
	haul := buildHaul(t)
	cfg := kubetest.Start(t, "../../config/crd/bases")
	kubeconfig := kubetest.WriteKubeconfig(t, cfg)
	c := kubetest.Client(t, cfg, haulv1alpha1.AddToScheme)
	url := dbtest.New(t)

	// The sample's volumes: claim haul-input holds `haul gen --faults`
	// output, haul-rejects is empty.
	input, rejects := t.TempDir(), t.TempDir()
	mustRun(t, haul, "gen", "--out", input, "--shipments", "3000", "--faults", "0.01", "--vehicles", "200", "--seed", "2")
	key := readAnswerKey(t, input)
	broken := testutil.ReadFile(t, filepath.Join(input, "shipments.json"))
	writeFile(t, filepath.Join(input, "broken.json"), broken[:len(broken)/2])

	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "haul-database", Namespace: namespace},
			StringData: map[string]string{"url": url}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "haul-jobs", Namespace: namespace}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	runner := &kubetest.JobRunner{
		Client:   c,
		Commands: map[string]string{"haul": haul},
		Env:      []string{"KUBECONFIG=" + kubeconfig},
		Volume: func(_ *corev1.Pod, v corev1.Volume) (string, error) {
			if v.PersistentVolumeClaim == nil {
				return "", nil
			}
			switch v.PersistentVolumeClaim.ClaimName {
			case "haul-input":
				return input, nil
			case "haul-rejects":
				return rejects, nil
			}
			return "", fmt.Errorf("no claim %s", v.PersistentVolumeClaim.ClaimName)
		},
		Log: testr.New(t),
	}
	runner.Start(t)
	health := startController(t, haul, kubeconfig)

	sample := readSample(t)
	sample.Namespace = namespace
	if err := c.Create(ctx, sample); err != nil {
		t.Fatalf("apply the sample: %v", err)
	}
	// Creation times have a resolution of a second: the second run is
	// created once the first has started, so the queue's order is certain.
	waitRun(t, c, "sample", (*haulv1alpha1.IngestionRun).IsStarted)
	second := sample.DeepCopy()
	second.ObjectMeta = metav1.ObjectMeta{Name: "broken", Namespace: namespace}
	second.Spec.Sources = haulv1alpha1.Sources{Shipments: []haulv1alpha1.Source{"broken.json"}}
	if err := c.Create(ctx, second); err != nil {
		t.Fatal(err)
	}

	queued := waitRun(t, c, "broken", func(r *haulv1alpha1.IngestionRun) bool { return r.Status.Phase != "" })
	if queued.Status.Phase != haulv1alpha1.PhaseQueued || queued.Status.QueuedBehind != "sample" {
		t.Errorf("second run on the database: phase %s behind %q; want Queued behind sample", queued.Status.Phase, queued.Status.QueuedBehind)
	}

	done := waitRun(t, c, "sample", (*haulv1alpha1.IngestionRun).IsFinished)
	if done.Status.Phase != haulv1alpha1.PhaseSucceeded {
		t.Fatalf("sample run %s: %s: %s", done.Status.Phase, done.Status.Reason, done.Status.Message)
	}
	checkCounts(t, done, key)
	checkDatabase(t, url, key)
	checkRejects(t, rejects, done, key)
	checkProgressAnnotations(t, c, done)
	checkEvents(t, c, done)

	failed := waitRun(t, c, "broken", (*haulv1alpha1.IngestionRun).IsFinished)
	if failed.Status.Phase != haulv1alpha1.PhaseFailed || failed.Status.Reason != jobreport.ReasonInputError ||
		!strings.Contains(failed.Status.Message, "broken.json") || !strings.Contains(failed.Status.Message, "byte offset") {
		t.Errorf("run of a truncated file: %s, reason %q, message %q; want Failed, InputError, naming the file and offset",
			failed.Status.Phase, failed.Status.Reason, failed.Status.Message)
	}
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(namespace), client.MatchingLabels{controllers.LabelRunUID: string(failed.UID)}); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		t.Errorf("failed run has %d jobs, want its shipments Job only (no precalc)", len(jobs.Items))
	}

	metrics := get(t, health.metrics+"/metrics")
	for _, want := range []string{
		`haul_ingestionruns_finished_total{phase="Succeeded",reason=""} 1`,
		`haul_ingestionruns_finished_total{phase="Failed",reason="InputError"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("controller metrics lack %s", want)
		}
	}
}

// checkCounts compares the status with the answer key: one file per
// dataset, so each dataset's counts are the key's.
func checkCounts(t *testing.T, run *haulv1alpha1.IngestionRun, key *datagen.AnswerKey) {
	t.Helper()
	st := run.Status
	if len(st.Datasets) != 3 {
		t.Fatalf("status has %d datasets, want 3: %+v", len(st.Datasets), st.Datasets)
	}
	var loaded, rejected, duplicates int64
	for _, d := range st.Datasets {
		k := key.Datasets[datagen.Dataset(d.Name)]
		if k == nil {
			t.Fatalf("no answer key for %s", d.Name)
		}
		got := fmt.Sprintf("files %d/%d read %d loaded %d duplicates %d rejected %d %v",
			d.FilesDone, d.Files, d.Read, d.Loaded, d.Duplicates, d.Rejected, d.RejectedByReason)
		want := fmt.Sprintf("files 1/1 read %d loaded %d duplicates %d rejected %d %v",
			k.Read, k.Loaded, k.Duplicates, k.Rejected, nonEmpty(k.RejectedByReason))
		if got != want {
			t.Errorf("%s: status %s\nwant (answer key)   %s", d.Name, got, want)
		}
		loaded += k.Loaded
		rejected += k.Rejected
		duplicates += k.Duplicates
	}
	if st.Loaded != loaded || st.Rejected != rejected || st.Progress != "100%" {
		t.Errorf("status loaded %d rejected %d progress %s; want %d, %d, 100%%", st.Loaded, st.Rejected, st.Progress, loaded, rejected)
	}
	if rejected == 0 || duplicates == 0 {
		t.Errorf("the data has %d rejects and %d duplicates: with none of either, the test proves less", rejected, duplicates)
	}
	for _, typ := range []string{haulv1alpha1.ConditionIngested, haulv1alpha1.ConditionPrecalculated, haulv1alpha1.ConditionSucceeded} {
		if c := findCondition(st.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != run.Generation {
			t.Errorf("condition %s: %+v; want True for generation %d", typ, c, run.Generation)
		}
	}
	if st.StartTime == nil || st.CompletionTime == nil || st.PrecalcJob == "" {
		t.Errorf("status lacks start %v, completion %v or precalc job %q", st.StartTime, st.CompletionTime, st.PrecalcJob)
	}
}

func nonEmpty(m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	return m
}

// checkDatabase: the rows are in PostgreSQL and the precalc Job refreshed
// the aggregates from them.
func checkDatabase(t *testing.T, url string, key *datagen.AnswerKey) {
	t.Helper()
	pool := dbtest.Pool(t, url)
	ctx := t.Context()
	for table, ds := range map[string]datagen.Dataset{"vehicles": "vehicles", "vehicle_logs": "vehicle_logs", "shipments": "shipments"} {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := key.Datasets[ds].Loaded; n != want {
			t.Errorf("%s holds %d rows, want the %d loaded", table, n, want)
		}
	}
	var version, shipments int64
	if err := pool.QueryRow(ctx, `SELECT version FROM precalc_state`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(shipments), 0) FROM agg_totals WHERE grain = 0`).Scan(&shipments); err != nil {
		t.Fatal(err)
	}
	if version < 1 || shipments != key.Datasets["shipments"].Loaded {
		t.Errorf("aggregates at version %d count %d shipments; want a refresh counting %d", version, shipments, key.Datasets["shipments"].Loaded)
	}
}

// checkRejects: every reject is in the rejects volume, under the folder the
// pod's run id names.
func checkRejects(t *testing.T, dir string, run *haulv1alpha1.IngestionRun, key *datagen.AnswerKey) {
	t.Helper()
	for ds, k := range key.Datasets {
		if k.Rejected == 0 {
			continue
		}
		path := filepath.Join(dir, "rejects", fmt.Sprintf("%s-%s-0", run.UID, ds), string(ds)+".rejects.ndjson")
		lines := bytes.Count(testutil.ReadFile(t, path), []byte("\n"))
		if int64(lines) != k.Rejected {
			t.Errorf("%s: %d rejects, want %d", path, lines, k.Rejected)
		}
	}
}

// checkProgressAnnotations: each ingest pod annotated itself with its
// progress, ending at its whole file.
func checkProgressAnnotations(t *testing.T, c client.Client, run *haulv1alpha1.IngestionRun) {
	t.Helper()
	var pods corev1.PodList
	if err := c.List(t.Context(), &pods, client.InNamespace(namespace), client.MatchingLabels{controllers.LabelRunUID: string(run.UID)}); err != nil {
		t.Fatal(err)
	}
	ingest := 0
	for _, p := range pods.Items {
		if p.Labels[controllers.LabelRole] == "precalc" {
			continue
		}
		ingest++
		pr, err := jobreport.DecodeProgress(p.Annotations[jobreport.ProgressAnnotation])
		if err != nil || pr.BytesTotal <= 0 || pr.BytesRead != pr.BytesTotal {
			t.Errorf("pod %s progress %q (%v); want all of its file read", p.Name, p.Annotations[jobreport.ProgressAnnotation], err)
		}
	}
	if ingest != 3 {
		t.Errorf("%d ingest pods, want one per dataset", ingest)
	}
}

func checkEvents(t *testing.T, c client.Client, run *haulv1alpha1.IngestionRun) {
	t.Helper()
	want := map[string]bool{"JobCreated": false, "Ingesting": false, "Precalculating": false, "Succeeded": false}
	var missing []string
	if wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var events eventsv1.EventList
		if err := c.List(t.Context(), &events, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		for _, e := range events.Items {
			if e.Regarding.UID == run.UID {
				if _, ok := want[e.Reason]; ok {
					want[e.Reason] = true
				}
			}
		}
		missing = []string{}
		for reason, seen := range want {
			if !seen {
				missing = append(missing, reason)
			}
		}
		return len(missing) == 0, nil
	}) != nil {
		t.Errorf("no events %v about run %s", missing, run.Name)
	}
}

type controllerAddrs struct{ metrics, health string }

// startController runs `haul controller` against the API server, with
// leader election on, until the test ends, and waits until it is ready.
func startController(t *testing.T, haul, kubeconfig string) controllerAddrs {
	t.Helper()
	addrs := controllerAddrs{metrics: "http://" + testutil.FreeAddr(t), health: "http://" + testutil.FreeAddr(t)}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, haul, "controller", "--kubeconfig", kubeconfig, "--job-image", "haul:e2e",
		"--leader-elect", "--leader-election-namespace", namespace,
		// Plain HTTP: TestMetricsNeedAuthorization covers the secure default.
		"--metrics-bind-address", strings.TrimPrefix(addrs.metrics, "http://"), "--metrics-secure=false",
		"--health-probe-bind-address", strings.TrimPrefix(addrs.health, "http://"))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		// Wait reports the cancel when the controller exits 0 on it.
		if err := cmd.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("haul controller: %v", err)
		}
		if t.Failed() {
			t.Logf("haul controller output:\n%s", out.String())
		}
	})
	if wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		resp, err := http.Get(addrs.health + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK, nil
	}) != nil {
		t.Fatalf("haul controller not ready after 60 s:\n%s", out.String())
	}
	return addrs
}

func waitRun(t *testing.T, c client.Client, name string, done func(*haulv1alpha1.IngestionRun) bool) *haulv1alpha1.IngestionRun {
	t.Helper()
	var run haulv1alpha1.IngestionRun
	if wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		run = haulv1alpha1.IngestionRun{}
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, &run); err != nil {
			t.Fatal(err)
		}
		return done(&run), nil
	}) != nil {
		b, _ := yaml.Marshal(run.Status)
		t.Fatalf("run %s did not get there in 3 minutes; status:\n%s", name, b)
	}
	return &run
}

func readSample(t *testing.T) *haulv1alpha1.IngestionRun {
	t.Helper()
	var run haulv1alpha1.IngestionRun
	if err := yaml.UnmarshalStrict(testutil.ReadFile(t, sampleFile), &run); err != nil {
		t.Fatalf("%s: %v", sampleFile, err)
	}
	if run.Kind != "IngestionRun" || run.Name != "sample" {
		t.Fatalf("%s holds %s %s, want IngestionRun sample", sampleFile, run.Kind, run.Name)
	}
	return &run
}

func readAnswerKey(t *testing.T, dir string) *datagen.AnswerKey {
	t.Helper()
	var key datagen.AnswerKey
	if err := json.Unmarshal(testutil.ReadFile(t, filepath.Join(dir, datagen.AnswerKeyFile)), &key); err != nil {
		t.Fatal(err)
	}
	return &key
}

func buildHaul(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "haul")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/haul").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/haul: %v\n%s", err, out)
	}
	return bin
}

func mustRun(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("haul %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func findCondition(list []metav1.Condition, typ string) *metav1.Condition {
	for i := range list {
		if list[i].Type == typ {
			return &list[i]
		}
	}
	return nil
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
