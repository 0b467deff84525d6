package controllers

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
)

func TestJobName(t *testing.T) {
	long := strings.Repeat("warehouse.", 25) + "eu" // 252 characters, the most a name may have is 253
	tests := []struct {
		name string
		run  string
		role jobRole
		want string
	}{
		{"short", "fleet-may", roleVehicles, "fleet-may-vehicles-6f1c2"},
		{"dots become dashes", "fleet.2024.05", roleVehicleLogs, "fleet-2024-05-logs-6f1c2"},
		{"forty characters are kept", strings.Repeat("a", 40), roleShipments, strings.Repeat("a", 40) + "-shipments-6f1c2"},
		{"long names are cut", strings.Repeat("b", 41), roleShipments, strings.Repeat("b", 40) + "-shipments-6f1c2"},
		{"no dash before the role after a cut", long, rolePrecalc, "warehouse-warehouse-warehouse-warehouse-precalc-6f1c2"},
		{"no dashes before the role after a cut", strings.Repeat("c", 38) + "--d", roleShipments, strings.Repeat("c", 38) + "-shipments-6f1c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := makeRun(tt.run).obj()
			got := jobName(run, tt.role)
			if got != tt.want {
				t.Errorf("jobName(%q, %s) = %q, want %q", tt.run, tt.role, got, tt.want)
			}
			// The Job controller labels pods with the Job's name and names
			// their host <job>-<index>: both must be DNS labels.
			for _, name := range []string{got, got + "-499"} {
				if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
					t.Errorf("%q is not a DNS label: %v", name, errs)
				}
			}
		})
	}
}

func TestJobNameTellsRunsApart(t *testing.T) {
	a := makeRun("fleet").obj()
	b := makeRun("fleet").uid("0b9e7d6c-5a4f-4e3d-9c2b-1a0f9e8d7c6b").obj()
	if jobName(a, roleVehicles) == jobName(b, roleVehicles) {
		t.Errorf("a run re-created under the same name meets the old run's Job %s", jobName(a, roleVehicles))
	}
}

// fullRun sets every spec field the Jobs use.
func fullRun() *haulv1alpha1.IngestionRun {
	run := makeRun("fleet.2024-05").
		vehicles("2024/05/vehicles-1.json", "https://drops.example.com/vehicles-2.ndjson.gz").
		vehicleLogs("2024/05/logs.ndjson").
		maxRejects("2.5%").
		obj()
	s := &run.Spec
	s.Rejects = &haulv1alpha1.RejectsTarget{
		Volume: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "rejects"}},
		Path:   "runs/may",
	}
	s.BatchSize = ptr.To[int32](5000)
	s.Workers = ptr.To[int32](4)
	s.Parallelism = ptr.To[int32](8)
	s.BackoffLimit = ptr.To[int32](5)
	s.ActiveDeadlineSeconds = ptr.To[int64](3600)
	s.ImagePullPolicy = corev1.PullIfNotPresent
	s.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}
	s.NodeSelector = map[string]string{"pool": "batch"}
	s.Tolerations = []corev1.Toleration{{Key: "batch", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	return run
}

// wantJob is the Job every role shares, before the role's container and
// volumes.
func wantJob(role jobRole, component, container string) *batchv1.Job {
	labels := map[string]string{
		"app.kubernetes.io/name":       "haul",
		"app.kubernetes.io/component":  component,
		"app.kubernetes.io/managed-by": "haul-controller",
		"analytics.haul.dev/run-uid":   string(testRunUID),
		"analytics.haul.dev/role":      string(role),
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "fleet-2024-05-" + string(role) + "-" + testUIDPrefix,
			Namespace:   testNamespace,
			Labels:      labels,
			Annotations: map[string]string{"analytics.haul.dev/run": "fleet.2024-05"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "analytics.haul.dev/v1alpha1", Kind: "IngestionRun", Name: "fleet.2024-05", UID: testRunUID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](5),
			ActiveDeadlineSeconds: ptr.To[int64](3600),
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{
					Action: batchv1.PodFailurePolicyActionFailJob,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr.To(container), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{2, 3},
					},
				},
				{
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
				},
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels,
					Annotations: map[string]string{"analytics.haul.dev/run": "fleet.2024-05"},
				},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: "haul-jobs",
					NodeSelector:       map[string]string{"pool": "batch"},
					Tolerations:        []corev1.Toleration{{Key: "batch", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            container,
						Image:           "registry.example.com/haul:1.4.0",
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         []string{"haul"},
						Env: []corev1.EnvVar{{
							Name: "HAUL_DATABASE_URL",
							ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: "haul-db"}, Key: "url",
							}},
						}},
						Resources:                corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
						TerminationMessagePath:   "/dev/termination-log",
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}

var testJobConfig = JobConfig{Image: "registry.example.com/haul:1.4.0", ServiceAccountName: "haul-jobs", AnnotateProgress: true}

func TestIngestJob(t *testing.T) {
	want := wantJob(roleVehicles, "ingest", "ingest")
	want.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	want.Spec.Completions = ptr.To[int32](2)
	want.Spec.Parallelism = ptr.To[int32](2) // spec.parallelism 8, but there are 2 files
	pod := &want.Spec.Template.Spec
	pod.Volumes = append(pod.Volumes,
		corev1.Volume{Name: "input", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "drops", ReadOnly: true}}},
		corev1.Volume{Name: "rejects", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "rejects"}}},
	)
	c := &pod.Containers[0]
	c.Args = []string{
		"ingest",
		"--vehicles", "/data/input/2024/05/vehicles-1.json",
		"--vehicles", "https://drops.example.com/vehicles-2.ndjson.gz",
		"--file-index=$(JOB_COMPLETION_INDEX)",
		"--run-id=" + string(testRunUID) + "-vehicles-$(JOB_COMPLETION_INDEX)",
		"--group=" + string(testRunUID),
		"--rejects-dir", "/data/rejects/runs/may",
		"--summary-file", "/dev/termination-log",
		"--progress=log",
		"--output=json",
		"--annotate-pod=$(POD_NAMESPACE)/$(POD_NAME)",
		"--batch-size=5000",
		"--workers=4",
		"--max-rejects=2.5%",
	}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
		corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	)
	c.VolumeMounts = append(c.VolumeMounts,
		corev1.VolumeMount{Name: "input", MountPath: "/data/input", ReadOnly: true},
		corev1.VolumeMount{Name: "rejects", MountPath: "/data/rejects"},
	)

	got := ingestJob(fullRun(), haulv1alpha1.DatasetVehicles, testJobConfig)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ingestJob(vehicles) mismatch (-want +got):\n%s", diff)
	}
}

func TestPrecalcJob(t *testing.T) {
	want := wantJob(rolePrecalc, "precalc", "precalc")
	want.Spec.Template.Spec.Containers[0].Args = []string{"precalc"}

	got := precalcJob(fullRun(), testJobConfig)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("precalcJob mismatch (-want +got):\n%s", diff)
	}
}

// A run without resources gets the controller's default; a run's own
// resources replace it whole.
func TestJobResourcesDefault(t *testing.T) {
	cfg := testJobConfig
	cfg.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}
	bare := fullRun()
	bare.Spec.Resources = corev1.ResourceRequirements{}
	if got := precalcJob(bare, cfg).Spec.Template.Spec.Containers[0].Resources; !cmp.Equal(got, cfg.Resources) {
		t.Errorf("run without resources: %v, want the default %v", got, cfg.Resources)
	}
	own := fullRun()
	if got := ingestJob(own, haulv1alpha1.DatasetVehicles, cfg).Spec.Template.Spec.Containers[0].Resources; !cmp.Equal(got, own.Spec.Resources) {
		t.Errorf("run with resources: %v, want its own %v", got, own.Spec.Resources)
	}
}

// The parts of an ingest Job that depend on the run, one at a time.
func TestIngestJobVariants(t *testing.T) {
	type parts struct {
		Name                                 string
		Completions, Parallelism, Backoff    int32
		Args                                 []string
		Image, ServiceAccount, DatabaseKey   string
		Volumes                              []corev1.Volume
		Mounts                               []corev1.VolumeMount
		PullPolicy                           corev1.PullPolicy
		ActiveDeadlineSeconds                *int64
		FirstFailJobContainer, ContainerName string
	}
	partsOf := func(job *batchv1.Job) parts {
		c := job.Spec.Template.Spec.Containers[0]
		return parts{
			Name:                  job.Name,
			Completions:           ptr.Deref(job.Spec.Completions, -1),
			Parallelism:           ptr.Deref(job.Spec.Parallelism, -1),
			Backoff:               ptr.Deref(job.Spec.BackoffLimit, -1),
			Args:                  c.Args,
			Image:                 c.Image,
			ServiceAccount:        job.Spec.Template.Spec.ServiceAccountName,
			DatabaseKey:           c.Env[0].ValueFrom.SecretKeyRef.Key,
			Volumes:               job.Spec.Template.Spec.Volumes,
			Mounts:                c.VolumeMounts,
			PullPolicy:            c.ImagePullPolicy,
			ActiveDeadlineSeconds: job.Spec.ActiveDeadlineSeconds,
			FirstFailJobContainer: ptr.Deref(job.Spec.PodFailurePolicy.Rules[0].OnExitCodes.ContainerName, ""),
			ContainerName:         c.Name,
		}
	}
	tmp := corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	emptyRejects := corev1.Volume{Name: "rejects", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	input := corev1.Volume{Name: "input", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "drops", ReadOnly: true}}}
	tmpMount := corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}
	inputMount := corev1.VolumeMount{Name: "input", MountPath: "/data/input", ReadOnly: true}
	rejectsMount := corev1.VolumeMount{Name: "rejects", MountPath: "/data/rejects"}
	tail := func(ds, rejectsDir string) []string {
		return []string{
			"--file-index=$(JOB_COMPLETION_INDEX)",
			"--run-id=" + string(testRunUID) + "-" + ds + "-$(JOB_COMPLETION_INDEX)",
			"--group=" + string(testRunUID),
			"--rejects-dir", rejectsDir,
			"--summary-file", "/dev/termination-log",
			"--progress=log",
			"--output=json",
		}
	}

	tests := []struct {
		name string
		run  *haulv1alpha1.IngestionRun
		ds   haulv1alpha1.Dataset
		cfg  JobConfig
		want parts
	}{
		{
			name: "defaults",
			run:  makeRun("may").vehicles("v.json").obj(),
			ds:   haulv1alpha1.DatasetVehicles,
			cfg:  JobConfig{Image: "haul:1"},
			want: parts{
				Name: "may-vehicles-6f1c2", Completions: 1, Parallelism: 1, Backoff: 3,
				Args:  append([]string{"ingest", "--vehicles", "/data/input/v.json"}, tail("vehicles", "/data/rejects")...),
				Image: "haul:1", DatabaseKey: "url",
				Volumes: []corev1.Volume{tmp, input, emptyRejects}, Mounts: []corev1.VolumeMount{tmpMount, inputMount, rejectsMount},
				FirstFailJobContainer: "ingest", ContainerName: "ingest",
			},
		},
		{
			name: "vehicle logs, parallelism below the files, the run's image and account, default key, no log cache flag",
			run: func() *haulv1alpha1.IngestionRun {
				r := makeRun("may").vehicleLogs("l0.json", "l1.json", "l2.json", "l3.json", "l4.json").database("db", "").obj()
				r.Spec.Parallelism = ptr.To[int32](3)
				r.Spec.LogCacheMB = ptr.To[int32](16)
				r.Spec.Image = "haul:pinned"
				r.Spec.ServiceAccountName = "loader"
				r.Spec.ImagePullPolicy = corev1.PullAlways
				return r
			}(),
			ds:  haulv1alpha1.DatasetVehicleLogs,
			cfg: JobConfig{Image: "haul:1", ServiceAccountName: "haul-jobs"},
			want: parts{
				Name: "may-logs-6f1c2", Completions: 5, Parallelism: 3, Backoff: 3,
				Args: append([]string{"ingest",
					"--vehicle-logs", "/data/input/l0.json", "--vehicle-logs", "/data/input/l1.json", "--vehicle-logs", "/data/input/l2.json",
					"--vehicle-logs", "/data/input/l3.json", "--vehicle-logs", "/data/input/l4.json",
				}, tail("vehicle_logs", "/data/rejects")...),
				Image: "haul:pinned", ServiceAccount: "loader", DatabaseKey: "url", PullPolicy: corev1.PullAlways,
				Volumes: []corev1.Volume{tmp, input, emptyRejects}, Mounts: []corev1.VolumeMount{tmpMount, inputMount, rejectsMount},
				FirstFailJobContainer: "ingest", ContainerName: "ingest",
			},
		},
		{
			name: "urls only: no input volume; rejects volume without a path; no retries; no log cache",
			run: func() *haulv1alpha1.IngestionRun {
				r := makeRun("may").shipments("https://a.example.com/s.json", "http://b.example.com/s.ndjson.gz").database("db", "dsn").obj()
				r.Spec.LogCacheMB = ptr.To[int32](0)
				r.Spec.Input = nil
				r.Spec.Rejects = &haulv1alpha1.RejectsTarget{Volume: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "rej"}}}
				r.Spec.Parallelism = ptr.To[int32](2)
				r.Spec.BackoffLimit = ptr.To[int32](0)
				r.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
				return r
			}(),
			ds:  haulv1alpha1.DatasetShipments,
			cfg: JobConfig{Image: "haul:1"},
			want: parts{
				Name: "may-shipments-6f1c2", Completions: 2, Parallelism: 2, Backoff: 0,
				Args: append([]string{"ingest", "--shipments", "https://a.example.com/s.json", "--shipments", "http://b.example.com/s.ndjson.gz"},
					append(tail("shipments", "/data/rejects"), "--log-cache-mb=0")...),
				Image: "haul:1", DatabaseKey: "dsn",
				Volumes: []corev1.Volume{tmp, {Name: "rejects", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "rej"}}}},
				Mounts:  []corev1.VolumeMount{tmpMount, rejectsMount}, ActiveDeadlineSeconds: ptr.To[int64](60),
				FirstFailJobContainer: "ingest", ContainerName: "ingest",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := partsOf(ingestJob(tt.run, tt.ds, tt.cfg))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ingestJob(%s) mismatch (-want +got):\n%s", tt.ds, diff)
			}
		})
	}
}

// A role no builder knows is an error, not a nil Job handed to the client.
func TestCreateJobUnknownRole(t *testing.T) {
	r := &IngestionRunReconciler{}
	err := r.createJob(t.Context(), &sampleRun("fleet.may").IngestionRun, jobRole("nope"))
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("createJob with an unknown role: %v, want an error naming it", err)
	}
}
