package controllers

import (
	"fmt"
	"path"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
)

// jobRole is what a Job does for its run; it names the Job.
type jobRole string

const (
	roleVehicles    jobRole = "vehicles"
	roleVehicleLogs jobRole = "logs"
	roleShipments   jobRole = "shipments"
	rolePrecalc     jobRole = "precalc"
)

var datasetRoles = map[haulv1alpha1.Dataset]jobRole{
	haulv1alpha1.DatasetVehicles:    roleVehicles,
	haulv1alpha1.DatasetVehicleLogs: roleVehicleLogs,
	haulv1alpha1.DatasetShipments:   roleShipments,
}

// Labels and annotations on the Jobs and their pods.
const (
	LabelRunUID      = "analytics.haul.dev/run-uid"
	LabelRole        = "analytics.haul.dev/role"
	AnnotationRun    = "analytics.haul.dev/run" // the run's name, which may be longer than a label value
	labelName        = "app.kubernetes.io/name"
	labelComponent   = "app.kubernetes.io/component"
	labelManagedBy   = "app.kubernetes.io/managed-by"
	managedBy        = "haul-controller"
	completionIndex  = "batch.kubernetes.io/job-completion-index"
	containerIngest  = "ingest"
	containerPrecalc = "precalc"
)

// Where the job pods see their volumes.
const (
	inputMount   = "/data/input"
	rejectsMount = "/data/rejects"
	tmpMount     = "/tmp"
)

// Exit codes of `haul` that retrying does not fix: bad usage, and an ingest
// that failed on its input.
var permanentExitCodes = []int32{2, 3}

// JobConfig is what the controller adds to every run's Jobs.
type JobConfig struct {
	// Image runs `haul` when the run names none.
	Image string
	// ServiceAccountName runs the pods when the run names none.
	ServiceAccountName string
	// AnnotateProgress has ingest pods annotate themselves with their
	// progress; their service account needs get and patch on pods.
	AnnotateProgress bool
	// Resources of each Job container when the run sets none, so that Job
	// pods are scheduled with requests on clusters that demand them.
	Resources corev1.ResourceRequirements
}

// jobName is the Job of role for run: the run's name (shortened to fit a
// label value and a pod hostname) with the role and the start of its UID,
// so a run re-created under the same name does not meet its old Jobs.
func jobName(run *haulv1alpha1.IngestionRun, role jobRole) string {
	name := strings.ReplaceAll(run.Name, ".", "-")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	uid := strings.ReplaceAll(string(run.UID), "-", "")
	if len(uid) > 5 {
		uid = uid[:5]
	}
	return fmt.Sprintf("%s-%s-%s", name, role, uid)
}

// ingestRunID is the `haul ingest` run id of file index of dataset ds: a
// restarted pod resumes its file exactly once.
func ingestRunID(run *haulv1alpha1.IngestionRun, ds haulv1alpha1.Dataset, index string) string {
	return fmt.Sprintf("%s-%s-%s", run.UID, ds, index)
}

// ingestJob builds the Indexed Job loading the files of dataset ds, pod N
// loading file N.
func ingestJob(run *haulv1alpha1.IngestionRun, ds haulv1alpha1.Dataset, cfg JobConfig) *batchv1.Job {
	files := run.Spec.Sources.Files(ds)
	args := []string{"ingest"}
	flag := "--" + strings.ReplaceAll(string(ds), "_", "-")
	// A path is an argument of its own (not --flag=path), so tools that
	// map mount paths, like the tests' Job runner, find it.
	for _, f := range files {
		args = append(args, flag, sourceLocation(f))
	}
	rejectsDir := rejectsMount
	if run.Spec.Rejects != nil && run.Spec.Rejects.Path != "" {
		rejectsDir = path.Join(rejectsMount, run.Spec.Rejects.Path)
	}
	args = append(args,
		"--file-index=$(JOB_COMPLETION_INDEX)",
		"--run-id="+ingestRunID(run, ds, "$(JOB_COMPLETION_INDEX)"),
		"--group="+string(run.UID),
		"--rejects-dir", rejectsDir,
		"--summary-file", corev1.TerminationMessagePathDefault,
		"--progress=log",
		"--output=json",
	)
	if cfg.AnnotateProgress {
		args = append(args, "--annotate-pod=$(POD_NAMESPACE)/$(POD_NAME)")
	}
	if s := run.Spec.BatchSize; s != nil {
		args = append(args, fmt.Sprintf("--batch-size=%d", *s))
	}
	if w := run.Spec.Workers; w != nil {
		args = append(args, fmt.Sprintf("--workers=%d", *w))
	}
	if run.Spec.MaxRejects != "" {
		args = append(args, "--max-rejects="+run.Spec.MaxRejects)
	}
	if m := run.Spec.LogCacheMB; m != nil && ds == haulv1alpha1.DatasetShipments {
		args = append(args, fmt.Sprintf("--log-cache-mb=%d", *m))
	}

	role := datasetRoles[ds]
	pod := podTemplate(run, role, containerIngest, args, cfg)
	c := &pod.Spec.Containers[0]
	c.Env = append(c.Env,
		fieldEnv("JOB_COMPLETION_INDEX", "metadata.annotations['"+completionIndex+"']"),
		fieldEnv("POD_NAME", "metadata.name"),
		fieldEnv("POD_NAMESPACE", "metadata.namespace"),
	)
	if run.Spec.Input != nil {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "input", VolumeSource: *run.Spec.Input})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "input", MountPath: inputMount, ReadOnly: true})
	}
	rejects := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	if run.Spec.Rejects != nil {
		rejects = run.Spec.Rejects.Volume
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "rejects", VolumeSource: rejects})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "rejects", MountPath: rejectsMount})

	n := int32(len(files))
	job := newJob(run, role, pod)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.Completions = ptr.To(n)
	job.Spec.Parallelism = ptr.To(min(n, ptr.Deref(run.Spec.Parallelism, 1)))
	return job
}

// precalcJob builds the Job refreshing the aggregates.
func precalcJob(run *haulv1alpha1.IngestionRun, cfg JobConfig) *batchv1.Job {
	return newJob(run, rolePrecalc, podTemplate(run, rolePrecalc, containerPrecalc, []string{"precalc"}, cfg))
}

func sourceLocation(s haulv1alpha1.Source) string {
	if strings.HasPrefix(string(s), "http://") || strings.HasPrefix(string(s), "https://") {
		return string(s)
	}
	return path.Join(inputMount, string(s))
}

func jobLabels(run *haulv1alpha1.IngestionRun, role jobRole) map[string]string {
	component := "ingest"
	if role == rolePrecalc {
		component = "precalc"
	}
	return map[string]string{
		labelName:      "haul",
		labelComponent: component,
		labelManagedBy: managedBy,
		LabelRunUID:    string(run.UID),
		LabelRole:      string(role),
	}
}

func newJob(run *haulv1alpha1.IngestionRun, role jobRole, pod corev1.PodTemplateSpec) *batchv1.Job {
	spec := &run.Spec
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(run, role),
			Namespace:       run.Namespace,
			Labels:          jobLabels(run, role),
			Annotations:     map[string]string{AnnotationRun: run.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run, haulv1alpha1.GroupVersion.WithKind("IngestionRun"))},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To(ptr.Deref(spec.BackoffLimit, 3)),
			ActiveDeadlineSeconds: spec.ActiveDeadlineSeconds,
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{
					Action: batchv1.PodFailurePolicyActionFailJob,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr.To(pod.Spec.Containers[0].Name),
						Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
						Values:        permanentExitCodes,
					},
				},
				{
					// An evicted or preempted pod is not the run's fault.
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
				},
			}},
			Template: pod,
		},
	}
}

func podTemplate(run *haulv1alpha1.IngestionRun, role jobRole, container string, args []string, cfg JobConfig) corev1.PodTemplateSpec {
	spec := &run.Spec
	image := spec.Image
	if image == "" {
		image = cfg.Image
	}
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = cfg.ServiceAccountName
	}
	resources := spec.Resources
	if len(resources.Requests) == 0 && len(resources.Limits) == 0 && len(resources.Claims) == 0 {
		resources = cfg.Resources
	}
	dbKey := spec.Database.Key
	if dbKey == "" {
		dbKey = haulv1alpha1.DefaultDatabaseKey
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      jobLabels(run, role),
			Annotations: map[string]string{AnnotationRun: run.Name},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: sa,
			NodeSelector:       spec.NodeSelector,
			Tolerations:        spec.Tolerations,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            container,
				Image:           image,
				ImagePullPolicy: spec.ImagePullPolicy,
				Command:         []string{"haul"},
				Args:            args,
				Env: []corev1.EnvVar{{
					Name: "HAUL_DATABASE_URL",
					ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: spec.Database.SecretName},
						Key:                  dbKey,
					}},
				}},
				Resources:                resources,
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: tmpMount}},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

func fieldEnv(name, fieldPath string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: fieldPath}}}
}
