package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestJobRunner runs Jobs whose command is /bin/sh on a real API server, each
// subtest in a namespace of its own, with one JobRunner for all.
func TestJobRunner(t *testing.T) {
	cfg := Start(t)
	c := Client(t, cfg)
	claims := t.TempDir()
	runner := &JobRunner{
		Client:   c,
		Commands: map[string]string{"sh": "/bin/sh"},
		// A PersistentVolumeClaim is a folder per namespace and claim name.
		Volume: func(pod *corev1.Pod, v corev1.Volume) (string, error) {
			if v.PersistentVolumeClaim == nil {
				return "", nil
			}
			dir := filepath.Join(claims, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
			return dir, os.MkdirAll(dir, 0o755)
		},
		Env: []string{"FROM_RUNNER=runner"},
		Log: testr.New(t),
	}
	runner.Start(t)
	claim := func(ns, name string) string { return filepath.Join(claims, ns, name) }

	t.Run("IndexedJobWithSecretEnvAndVolume", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "indexed")
		create(t, c, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "greeting"},
			Data:       map[string][]byte{"text": []byte("hello")},
		})
		// Each pod counts the pods running beside it, then writes its index and
		// the Secret's value to the claim, and a termination message.
		job := shJob(ns, "indexed", `
touch "$2/running-$1"
ls "$2" | grep -c '^running-' > "$2/concurrency-$1"
sleep 1
rm "$2/running-$1"
printf '%s %s' "$1" "$GREETING" > "$2/out-$1"
printf 'index %s done' "$1" > "$3"`,
			"$(JOB_COMPLETION_INDEX)", "/data", "/dev/termination-log")
		job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		job.Spec.Completions = ptr.To[int32](3)
		job.Spec.Parallelism = ptr.To[int32](2)
		job.Spec.Template.Labels = map[string]string{"app": "indexed"}
		ctr := &job.Spec.Template.Spec.Containers[0]
		ctr.Env = []corev1.EnvVar{{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "greeting"}, Key: "text"},
		}}}
		withClaim(job, "data", "/data", "results")
		create(t, c, job)

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Succeeded: 3, CompletedIndexes: "0-2"}, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		pods := podsOf(t, c, job)
		if len(pods) != 3 {
			t.Fatalf("got %d pods, want 3", len(pods))
		}
		for ix, pod := range pods {
			name := regexp.MustCompile(fmt.Sprintf(`^indexed-%d-[a-z0-9]{5}$`, ix))
			if !name.MatchString(pod.Name) {
				t.Errorf("pod %d is named %q; want it to match %s", ix, pod.Name, name)
			}
			wantLabels := map[string]string{
				"app":                                "indexed",
				batchv1.JobNameLabel:                 "indexed",
				"job-name":                           "indexed",
				batchv1.ControllerUidLabel:           string(job.UID),
				"controller-uid":                     string(job.UID),
				batchv1.JobCompletionIndexAnnotation: strconv.Itoa(ix),
			}
			if diff := cmp.Diff(wantLabels, pod.Labels); diff != "" {
				t.Errorf("pod %s labels (-want +got):\n%s", pod.Name, diff)
			}
			if got := pod.Annotations[batchv1.JobCompletionIndexAnnotation]; got != strconv.Itoa(ix) {
				t.Errorf("pod %s has completion index annotation %q; want %d", pod.Name, got, ix)
			}
			wantOwner := []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "indexed", UID: job.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
			if diff := cmp.Diff(wantOwner, pod.OwnerReferences); diff != "" {
				t.Errorf("pod %s owners (-want +got):\n%s", pod.Name, diff)
			}
			if want := fmt.Sprintf("indexed-%d", ix); pod.Spec.Hostname != want {
				t.Errorf("pod %s has hostname %q; want %q", pod.Name, pod.Spec.Hostname, want)
			}
			wantEnv := append(slices.Clone(ctr.Env), corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']"},
			}})
			if diff := cmp.Diff(wantEnv, pod.Spec.Containers[0].Env); diff != "" {
				t.Errorf("pod %s env (-want +got):\n%s", pod.Name, diff)
			}
			wantTerminated(t, pod, corev1.PodSucceeded, 0, "Completed", fmt.Sprintf("index %d done", ix))
			if got, want := readFile(t, claim(ns, "results"), fmt.Sprintf("out-%d", ix)), fmt.Sprintf("%d hello", ix); got != want {
				t.Errorf("out-%d holds %q; want %q", ix, got, want)
			}
		}
		most := 0
		for ix := range 3 {
			n, err := strconv.Atoi(strings.TrimSpace(readFile(t, claim(ns, "results"), fmt.Sprintf("concurrency-%d", ix))))
			if err != nil {
				t.Fatal(err)
			}
			most = max(most, n)
		}
		if most != 2 {
			t.Errorf("at most %d pods ran at once; want parallelism 2", most)
		}
	})

	t.Run("RetryWithinBackoffLimit", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "retry")
		job := shJob(ns, "retry", `
if [ -e "$1/marker" ]; then echo second try; exit 0; fi
touch "$1/marker"
echo first try fails >&2
exit 1`, "/state")
		job.Spec.BackoffLimit = ptr.To[int32](2)
		withClaim(job, "state", "/state", "state")
		create(t, c, job)

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Succeeded: 1, Failed: 1}, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		pods := podsOf(t, c, job)
		if len(pods) != 2 {
			t.Fatalf("got %d pods, want 2", len(pods))
		}
		failed, succeeded := byExitCode(pods, 1), byExitCode(pods, 0)
		wantTerminated(t, failed, corev1.PodFailed, 1, "Error", "")
		wantTerminated(t, succeeded, corev1.PodSucceeded, 0, "Completed", "")
		if !regexp.MustCompile(`^retry-[a-z0-9]{5}$`).MatchString(pods[0].Name) {
			t.Errorf("pod is named %q; want retry-<5 random characters>", pods[0].Name)
		}
	})

	t.Run("BackoffLimitExceeded", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "backoff")
		job := shJob(ns, "backoff", "exit 2")
		job.Spec.BackoffLimit = ptr.To[int32](1)
		create(t, c, job)

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Failed: 2}, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		pods := podsOf(t, c, job)
		if len(pods) != 2 {
			t.Fatalf("got %d pods, want 2", len(pods))
		}
		for _, pod := range pods {
			wantTerminated(t, pod, corev1.PodFailed, 2, "Error", "")
		}
	})

	t.Run("PodFailurePolicy", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "policy")
		// The first try exits 4, which is ignored; the second exits 3, which
		// fails the Job.
		job := shJob(ns, "policy", `
if [ -e "$1/marker" ]; then exit 3; fi
touch "$1/marker"
exit 4`, "/state")
		job.Spec.Template.Spec.Containers[0].Name = "ingest"
		job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{4},
			}},
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To("ingest"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3},
			}},
		}}
		withClaim(job, "state", "/state", "state")
		create(t, c, job)

		job = waitFinished(t, c, job)
		pods := podsOf(t, c, job)
		if len(pods) != 2 {
			t.Fatalf("got %d pods, want 2", len(pods))
		}
		ignored, fatal := byExitCode(pods, 4), byExitCode(pods, 3)
		wantTerminated(t, ignored, corev1.PodFailed, 4, "Error", "")
		wantTerminated(t, fatal, corev1.PodFailed, 3, "Error", "")
		message := fmt.Sprintf("Container ingest for pod %s/%s failed with exit code 3 matching FailJob rule at index 1", ns, fatal.Name)
		wantStatus(t, job, batchv1.JobStatus{Failed: 1}, batchv1.JobFailed, batchv1.JobReasonPodFailurePolicy, message)
	})

	t.Run("EnvAndExpansion", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "env")
		create(t, c, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"},
			Data:       map[string]string{"mode": "fast"},
		})
		job := shJob(ns, "env", `
printf '%s|%s|%s|%s' "$1" "$2" "$3" "$4" > "$5"
env | grep -v '^PWD=' | sort > "$6/env"`,
			"$(POD_NAME)", "$$(POD_NAME)", "$(NOPE)", "$(POD_NS)/$(APP)", "/dev/termination-log", "/out")
		job.Spec.Template.Labels = map[string]string{"app": "envcheck"}
		job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "GREETING", Value: "hi $(POD_NAME) from $(FROM_RUNNER)"},
			{Name: "LITERAL", Value: "$$(POD_NAME) $(LATER) $(NOPE)"},
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "mode",
			}}},
			{Name: "ABSENT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "absent", Optional: ptr.To(true),
			}}},
			{Name: "LATER", Value: "late"},
		}
		job.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{
			Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}},
		}}
		withClaim(job, "out", "/out", "out")
		create(t, c, job)

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Succeeded: 1}, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		pod := onlyPod(t, c, job)
		wantTerminated(t, pod, corev1.PodSucceeded, 0, "Completed", pod.Name+"|$(POD_NAME)|$(NOPE)|"+ns+"/envcheck")
		want := []string{
			"APP=envcheck",
			"CM_mode=fast",
			"FROM_RUNNER=runner",
			"GREETING=hi " + pod.Name + " from runner",
			"LATER=late",
			"LITERAL=$(POD_NAME) $(LATER) $(NOPE)",
			"MODE=fast",
			"POD_NAME=" + pod.Name,
			"POD_NS=" + ns,
		}
		for _, k := range []string{"HOME", "PATH"} {
			if v, ok := os.LookupEnv(k); ok {
				want = append(want, k+"="+v)
			}
		}
		slices.Sort(want)
		got := strings.Split(strings.TrimSuffix(readFile(t, claim(ns, "out"), "env"), "\n"), "\n")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("process env (-want +got):\n%s", diff)
		}
	})

	t.Run("FallbackToLogsOnError", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "fallback")
		// Each Job runs one pod with no retry: with two failing pods in one
		// Job, the Job controller may replace the first before the second
		// fails, so the pod count would depend on timing.
		const hundredLines = `
i=1
while [ $i -le 100 ]; do echo "line $i"; i=$((i+1)); done
`
		lines := shJob(ns, "lines", hundredLines+"exit 5")
		lines.Spec.BackoffLimit = ptr.To[int32](0)
		lines.Spec.Template.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		create(t, c, lines)
		// A message the process writes wins over its logs.
		file := shJob(ns, "file", hundredLines+`printf 'from file' > "$1"; exit 5`, "/dev/termination-log")
		file.Spec.BackoffLimit = ptr.To[int32](0)
		file.Spec.Template.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		create(t, c, file)
		// Without the fallback, the message stays empty.
		plain := shJob(ns, "plain", "echo some output; exit 1")
		plain.Spec.BackoffLimit = ptr.To[int32](0)
		create(t, c, plain)

		var last80 strings.Builder
		for i := 21; i <= 100; i++ {
			fmt.Fprintf(&last80, "line %d\n", i)
		}
		for _, tc := range []struct {
			job     *batchv1.Job
			message string
		}{{lines, last80.String()}, {file, "from file"}} {
			job := waitFinished(t, c, tc.job)
			wantStatus(t, job, batchv1.JobStatus{Failed: 1}, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
			wantTerminated(t, onlyPod(t, c, job), corev1.PodFailed, 5, "Error", tc.message)
		}

		plain = waitFinished(t, c, plain)
		wantStatus(t, plain, batchv1.JobStatus{Failed: 1}, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		wantTerminated(t, onlyPod(t, c, plain), corev1.PodFailed, 1, "Error", "")
	})

	t.Run("UnknownCommand", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "unknown")
		job := shJob(ns, "unknown", "")
		job.Spec.Template.Spec.Containers[0].Command = []string{"haul", "ingest"}
		job.Spec.BackoffLimit = ptr.To[int32](0)
		create(t, c, job)

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Failed: 1}, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		wantTerminated(t, onlyPod(t, c, job), corev1.PodFailed, 128, "StartError", `command "haul" of container "work" is not in kubetest.JobRunner.Commands`)
	})

	t.Run("ActiveDeadlineKillsProcess", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "deadline")
		job := shJob(ns, "deadline", "sleep 60")
		job.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
		create(t, c, job)

		start := time.Now()
		job = waitFinished(t, c, job)
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("the Job took %v to fail; want its deadline of 1s to kill the process", took)
		}
		wantStatus(t, job, batchv1.JobStatus{Failed: 1}, batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
		wantTerminated(t, onlyPod(t, c, job), corev1.PodFailed, 137, "Error", "")
	})

	t.Run("DeletedJobKillsProcess", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "deleted")
		job := shJob(ns, "deleted", "sleep 60")
		create(t, c, job)
		running := waitPod(t, c, job, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		var started batchv1.Job
		poll(t, func(ctx context.Context) (bool, error) {
			err := c.Get(ctx, client.ObjectKeyFromObject(job), &started)
			return started.Status.Active == 1 && ptr.Deref(started.Status.Ready, 0) == 1, err
		}, func() string { return fmt.Sprintf("job status active 1, ready 1; got %+v", started.Status) })
		if err := c.Delete(t.Context(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Fatal(err)
		}
		killed := waitPod(t, c, job, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if killed.UID != running.UID {
			t.Errorf("pod %s failed; want the running one, %s", killed.Name, running.Name)
		}
		wantTerminated(t, *killed, corev1.PodFailed, 137, "Error", "")
	})

	t.Run("VolumesAndWorkingDir", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "volumes")
		create(t, c, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data:       map[string][]byte{"user": []byte("alice"), "pass": []byte("s3cret")},
		})
		create(t, c, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "conf"},
			Data:       map[string]string{"a.conf": "A", "b.conf": "B"},
		})
		// A relative path lands in the working directory, the emptyDir.
		job := shJob(ns, "volumes", `
echo hi > local.txt
cat "$1/user" "$1/pass" "$2/sub/b" "$3/local.txt" > "$4/result"
ls "$2" > "$4/conf-files"`, "/etc/creds", "/etc/conf", "/scratch", "/out")
		spec := &job.Spec.Template.Spec
		spec.Volumes = []corev1.Volume{
			{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
			{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "conf"},
				Items:                []corev1.KeyToPath{{Key: "b.conf", Path: "sub/b"}},
			}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}
		spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
			{Name: "creds", MountPath: "/etc/creds"},
			{Name: "conf", MountPath: "/etc/conf"},
			{Name: "scratch", MountPath: "/scratch"},
		}
		spec.Containers[0].WorkingDir = "/scratch"
		withClaim(job, "out", "/out", "out")
		spec.Containers[0].VolumeMounts[3].SubPath = "run1"
		create(t, c, job)

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Succeeded: 1}, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		out := filepath.Join(claim(ns, "out"), "run1")
		if got, want := readFile(t, out, "result"), "alices3cretBhi\n"; got != want {
			t.Errorf("result holds %q; want %q", got, want)
		}
		if got, want := readFile(t, out, "conf-files"), "sub\n"; got != want {
			t.Errorf("the configMap volume holds %q; want %q (its one item)", got, want)
		}
	})

	t.Run("RestartPolicyOnFailure", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "onfailure")
		job := shJob(ns, "restarted", `
if [ -e "$1/marker" ]; then exit 0; fi
touch "$1/marker"
printf first > "$2"
exit 7`, "/state", "/dev/termination-log")
		job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		job.Spec.BackoffLimit = ptr.To[int32](2)
		withClaim(job, "state", "/state", "state")
		create(t, c, job)
		crashing := shJob(ns, "crashing", "exit 7")
		crashing.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		crashing.Spec.BackoffLimit = ptr.To[int32](1)
		create(t, c, crashing)

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Succeeded: 1}, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		pod := onlyPod(t, c, job)
		wantTerminated(t, pod, corev1.PodSucceeded, 0, "Completed", "")
		s := pod.Status.ContainerStatuses[0]
		if last := s.LastTerminationState.Terminated; s.RestartCount != 1 || last == nil || last.ExitCode != 7 || last.Message != "first" {
			t.Errorf("container restarted %d times, last ending %+v; want 1, with exit code 7 and message first", s.RestartCount, last)
		}

		crashing = waitFinished(t, c, crashing)
		wantStatus(t, crashing, batchv1.JobStatus{Failed: 1}, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		pods := podsOf(t, c, crashing)
		if len(pods) != 1 || pods[0].Status.Phase != corev1.PodFailed || pods[0].Status.ContainerStatuses[0].RestartCount < 1 {
			t.Errorf("crashing job has pods %+v; want one Failed, restarted", pods)
		}
	})

	t.Run("AdoptsPodsWithoutProcess", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "adopt")
		// A suspended Job is left alone, so its Pods can be made by hand: one
		// Running as if a previous runner had started it, one Pending.
		job := shJob(ns, "adopt", "exit 0")
		job.Spec.Suspend = ptr.To(true)
		create(t, c, job)
		time.Sleep(3 * jobPoll)
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(job), job); err != nil {
			t.Fatal(err)
		}
		if job.Status.StartTime != nil || len(podsOf(t, c, job)) != 0 {
			t.Fatalf("suspended job got started: %+v", job.Status)
		}
		var lost corev1.Pod
		for _, running := range []bool{true, false} {
			pod := newJobPod(job, -1)
			create(t, c, pod)
			if running {
				setPodRunning(pod, metav1.Now(), 0, corev1.ContainerState{})
				if err := c.Status().Update(t.Context(), pod); err != nil {
					t.Fatal(err)
				}
				lost = *pod
			}
		}
		job.Spec.Suspend = ptr.To(false)
		if err := c.Update(t.Context(), job); err != nil {
			t.Fatal(err)
		}

		job = waitFinished(t, c, job)
		wantStatus(t, job, batchv1.JobStatus{Succeeded: 1, Failed: 1}, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		pods := podsOf(t, c, job)
		if len(pods) != 2 {
			t.Fatalf("got %d pods, want the 2 made by hand", len(pods))
		}
		failed, succeeded := byExitCode(pods, 137), byExitCode(pods, 0)
		if failed.UID != lost.UID {
			t.Errorf("pod %s failed; want the one without a process, %s", failed.Name, lost.Name)
		}
		wantTerminated(t, failed, corev1.PodFailed, 137, "Error", "kubetest.JobRunner lost this pod's process: the runner that started it stopped")
		wantTerminated(t, succeeded, corev1.PodSucceeded, 0, "Completed", "")
	})

	t.Run("WriteKubeconfig", func(t *testing.T) {
		t.Parallel()
		kc, err := clientcmd.BuildConfigFromFlags("", WriteKubeconfig(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		kcClient := Client(t, kc)
		var ns corev1.Namespace
		if err := kcClient.Get(t.Context(), client.ObjectKey{Name: "default"}, &ns); err != nil {
			t.Errorf("get the default namespace through the kubeconfig: %v", err)
		}
	})
}
