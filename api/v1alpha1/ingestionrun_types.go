package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haul-dev/haul/internal/dataset"
)

// Source is one input file: a path relative to the input volume (without
// ".." segments), or an http(s) URL, streamed. A file may be gzip-compressed,
// a JSON array or NDJSON.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:XValidation:rule="self.startsWith('http://') || self.startsWith('https://') || !(self.startsWith('/') || self == '..' || self.startsWith('../') || self.endsWith('/..') || self.contains('/../'))",message="a source is an http(s) URL or a path inside the input volume (relative, without '..')"
type Source string

// Sources lists each dataset's files. Datasets load in the order vehicles,
// vehicle logs, shipments; any may be left out, not all.
// +kubebuilder:validation:XValidation:rule="has(self.vehicles) || has(self.vehicleLogs) || has(self.shipments)",message="at least one dataset needs sources"
type Sources struct {
	// Vehicles are the files of the vehicles dataset, loaded in this order.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=500
	// +listType=atomic
	Vehicles []Source `json:"vehicles,omitempty"`
	// VehicleLogs are the files of the vehicle_logs dataset, loaded in this order.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=500
	// +listType=atomic
	VehicleLogs []Source `json:"vehicleLogs,omitempty"`
	// Shipments are the files of the shipments dataset, loaded in this order.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=500
	// +listType=atomic
	Shipments []Source `json:"shipments,omitempty"`
}

// DatabaseRef names the Secret key that holds the PostgreSQL connection URL
// (postgres://user:password@host:port/db?sslmode=...).
type DatabaseRef struct {
	// SecretName is a Secret in the run's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`
	// Key is the Secret's key holding the URL. Runs naming the same Secret
	// and key queue behind each other.
	// +optional
	// +kubebuilder:default=url
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// RejectsTarget is where ingest writes the rejects files (one folder per
// ingest run id, NDJSON per dataset; docs/data.md#6-rejects).
type RejectsTarget struct {
	// Volume holds the rejects; it must be writable.
	// +required
	Volume corev1.VolumeSource `json:"volume"`
	// Path is the folder inside the volume.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!(self.startsWith('/') || self == '..' || self.startsWith('../') || self.endsWith('/..') || self.contains('/../'))",message="path is relative to the volume, without '..'"
	Path string `json:"path,omitempty"`
}

// IngestionRunSpec says what to load and how. It cannot change once the
// run exists: create another IngestionRun instead.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new IngestionRun"
// +kubebuilder:validation:XValidation:rule="has(self.input) || [has(self.sources.vehicles) ? self.sources.vehicles : [], has(self.sources.vehicleLogs) ? self.sources.vehicleLogs : [], has(self.sources.shipments) ? self.sources.shipments : []].all(l, l.all(s, s.startsWith('http://') || s.startsWith('https://')))",message="input volume is required when a source is a path"
type IngestionRunSpec struct {
	// Sources are the input files per dataset.
	// +required
	Sources Sources `json:"sources"`

	// Input is the volume the sources' paths are read from (for example a
	// PersistentVolumeClaim), mounted read-only. Not needed when every source
	// is a URL.
	// +optional
	Input *corev1.VolumeSource `json:"input,omitempty"`

	// Rejects is where bad records go. Default: an emptyDir, so the rejects
	// last as long as the pod; the counts per reason are in the status either way.
	// +optional
	Rejects *RejectsTarget `json:"rejects,omitempty"`

	// Database is where to load.
	// +required
	Database DatabaseRef `json:"database"`

	// BatchSize is the number of records per COPY batch and transaction.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	BatchSize *int32 `json:"batchSize,omitempty"`

	// Workers is the number of batches each pod loads at once.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Workers *int32 `json:"workers,omitempty"`

	// LogCacheMB is the memory, in MiB, each shipments pod gives to the
	// stored vehicle logs it reads before loading, so that it finds a
	// shipment's log without a lookup in the database (haul ingest
	// --log-cache-mb; 0 turns it off). Default: 256. Count it in the pod's
	// memory limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4096
	LogCacheMB *int32 `json:"logCacheMB,omitempty"`

	// Parallelism is the number of pods loading one dataset's files at once,
	// one file per pod. With 1 (the default) files load in the order given,
	// so of two conflicting records in different files the earlier file's is
	// kept (docs/data.md#45-duplicates-and-re-delivery); with more, the one committed first is kept.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Parallelism *int32 `json:"parallelism,omitempty"`

	// MaxRejects fails the run once rejects exceed this: a count ("1000") or
	// a percentage of the records read so far ("2.5%", checked after the
	// first 1,000 records). Empty means no limit.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9]{1,18}|(100|[0-9]{1,2})(\.[0-9]{1,6})?%)$`
	MaxRejects string `json:"maxRejects,omitempty"`

	// BackoffLimit is how often a failed pod is retried, per Job. A retried
	// pod resumes where the failed one stopped.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`

	// ActiveDeadlineSeconds bounds each Job's running time.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// TTLSecondsAfterFinished deletes the run, and with it its Jobs, this
	// long after it succeeded or failed. Unset keeps it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// Image runs `haul`. Default: the controller's --job-image.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the Jobs' containers.
	// +optional
	// +kubebuilder:validation:Enum=Always;Never;IfNotPresent
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Resources of each Job container. Default: the controller's
	// --job-requests and --job-limits (requests cpu 500m, memory 512Mi).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// ServiceAccountName runs the Jobs' pods. Default: the namespace's default.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// NodeSelector of the Jobs' pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the Jobs' pods.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Precalc refreshes the aggregates after the load (`haul precalc`), so
	// the API serves the new data.
	// +optional
	// +kubebuilder:default=true
	Precalc *bool `json:"precalc,omitempty"`
}

// Phase is where a run is in its life.
// +kubebuilder:validation:Enum=Queued;Ingesting;Precalculating;Succeeded;Failed
type Phase string

// The phases, in order; Succeeded and Failed are final.
const (
	PhaseQueued         Phase = "Queued"
	PhaseIngesting      Phase = "Ingesting"
	PhasePrecalculating Phase = "Precalculating"
	PhaseSucceeded      Phase = "Succeeded"
	PhaseFailed         Phase = "Failed"
)

// Dataset names an input dataset.
// +kubebuilder:validation:Enum=vehicles;vehicle_logs;shipments
type Dataset string

// The datasets, in load order; their names are internal/dataset's.
const (
	DatasetVehicles    = Dataset(dataset.Vehicles)
	DatasetVehicleLogs = Dataset(dataset.VehicleLogs)
	DatasetShipments   = Dataset(dataset.Shipments)
)

// Condition types a run reports.
const (
	// ConditionQueued is true while the run waits for another run on the
	// same database.
	ConditionQueued = "Queued"
	// ConditionIngested is true once every dataset is loaded.
	ConditionIngested = "Ingested"
	// ConditionPrecalculated is true once the aggregates include the run.
	ConditionPrecalculated = "Precalculated"
	// ConditionSucceeded is true when the run succeeded, false with a
	// reason when it failed, unknown while it runs.
	ConditionSucceeded = "Succeeded"
)

// DatasetStatus is what the run did with one dataset.
type DatasetStatus struct {
	// Name of the dataset.
	// +required
	Name Dataset `json:"name"`
	// Files is the number of input files.
	// +optional
	Files int32 `json:"files,omitempty"`
	// FilesDone counts the files whose pods completed.
	// +optional
	FilesDone int32 `json:"filesDone,omitempty"`
	// Read counts records read, accepted or not.
	// +optional
	Read int64 `json:"read,omitempty"`
	// Loaded counts records written.
	// +optional
	Loaded int64 `json:"loaded,omitempty"`
	// Duplicates counts records skipped as identical re-deliveries.
	// +optional
	Duplicates int64 `json:"duplicates,omitempty"`
	// Rejected counts bad records.
	// +optional
	Rejected int64 `json:"rejected,omitempty"`
	// RejectedByReason counts bad records per reason (docs/data.md#6-rejects).
	// +optional
	RejectedByReason map[string]int64 `json:"rejectedByReason,omitempty"`
	// Job is the ingest Job of this dataset.
	// +optional
	Job string `json:"job,omitempty"`
}

// IngestionRunStatus is the observed state of a run, rebuilt from its Jobs
// and their pods on every pass.
type IngestionRunStatus struct {
	// Phase summarises the conditions.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Queued, Ingested, Precalculated, Succeeded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Datasets, in load order.
	// +optional
	// +listType=map
	// +listMapKey=name
	Datasets []DatasetStatus `json:"datasets,omitempty"`
	// Progress is how far the input files are read, e.g. "42%": the mean
	// over every file of the run of the share of that file's bytes read (a
	// file done counts whole), so a small file weighs as much as a large one.
	// +optional
	Progress string `json:"progress,omitempty"`
	// Loaded and Rejected add up the datasets, for display.
	// +optional
	Loaded int64 `json:"loaded,omitempty"`
	// +optional
	Rejected int64 `json:"rejected,omitempty"`
	// PrecalcJob is the Job refreshing the aggregates.
	// +optional
	PrecalcJob string `json:"precalcJob,omitempty"`
	// QueuedBehind names the run this one waits for.
	// +optional
	QueuedBehind string `json:"queuedBehind,omitempty"`
	// StartTime is when the run left the queue and started (its first Job
	// is created in the pass after).
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the run succeeded or failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Reason is a CamelCase word for why the run failed.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says what failed, where (file, line, byte offset) when known.
	// +optional
	Message string `json:"message,omitempty"`
}

// IngestionRun loads input files into Haul's database, then refreshes the
// aggregates the API serves. It is one-shot and immutable.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ir;irun,categories=haul
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Loaded",type=integer,JSONPath=`.status.loaded`
// +kubebuilder:printcolumn:name="Rejected",type=integer,JSONPath=`.status.rejected`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IngestionRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IngestionRunSpec `json:"spec"`
	// +optional
	Status IngestionRunStatus `json:"status,omitempty"`
}

// IngestionRunList is a list of IngestionRuns.
// +kubebuilder:object:root=true
type IngestionRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IngestionRun `json:"items"`
}
