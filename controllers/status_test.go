package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
	"github.com/haul-dev/haul/internal/jobreport"
)

func TestCountIndexes(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"", 0},
		{"0", 1},
		{"0-2", 3},
		{"0-2,4", 4},
		{"1,3,5-9", 7},
		{"0-499", 500},
		{"0,,2", 2},
		{"x", 0},
		{"1-x,4", 1},
		{"3-1", 0},
	}
	for _, tt := range tests {
		if got := countIndexes(tt.in); got != tt.want {
			t.Errorf("countIndexes(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// cond is a condition as observe sets it on a run of generation 1.
func cond(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: 1}
}

// The conditions observe sets, in the order it first sets them.
func conds(ingested, precalculated metav1.Condition) []metav1.Condition {
	return []metav1.Condition{
		cond(haulv1alpha1.ConditionQueued, metav1.ConditionFalse, ReasonStarted, "the run left the queue"),
		ingested,
		precalculated,
	}
}

var (
	waitingForLoad = cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPending, "waiting for the load")
	notRun         = func(reason string) metav1.Condition {
		return cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, reason, "not run: the load failed")
	}
	allLoaded = cond(haulv1alpha1.ConditionIngested, metav1.ConditionTrue, ReasonIngested, "every dataset is loaded")
)

// ingestFailed are the conditions of a run whose load failed: Ingested false
// with the failure's reason and message, and precalc not run.
func ingestFailed(reason, message string) []metav1.Condition {
	return conds(cond(haulv1alpha1.ConditionIngested, metav1.ConditionFalse, reason, message), notRun(reason))
}

func loading(progress string) metav1.Condition {
	return cond(haulv1alpha1.ConditionIngested, metav1.ConditionFalse, ReasonIngesting, "loading "+progress)
}

var ignoreTransitionTimes = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")

func TestObserve(t *testing.T) {
	// Two vehicles files, one shipments file.
	run := makeRun("fleet-may").vehicles("v0.json", "v1.json").shipments("s0.json").started().obj()
	noPrecalc := makeRun("fleet-may").vehicles("v0.json", "v1.json").shipments("s0.json").noPrecalc().started().obj()
	vehicles := makeJob(run, roleVehicles)
	shipments := makeJob(run, roleShipments)
	precalc := makeJob(run, rolePrecalc)
	vehiclesDone := vehicles.obj()
	vehiclesDone.Status.CompletedIndexes = "0-1"
	vehiclesDone.Status.Conditions = makeJob(run, roleVehicles).complete().Status.Conditions
	shipmentsDone := makeJob(run, roleShipments).completedIndexes("0").complete().obj()
	loadedPods := pods(
		makePod(vehiclesDone, 0, 0).reported(0, summary(run, haulv1alpha1.DatasetVehicles, 0, 100, 95, 3, 2)),
		makePod(vehiclesDone, 1, 0).reported(0, summary(run, haulv1alpha1.DatasetVehicles, 1, 50, 50, 0, 0)),
		makePod(shipmentsDone, 0, 0).reported(0, summary(run, haulv1alpha1.DatasetShipments, 0, 10, 9, 0, 1)),
	)
	loadedDatasets := []haulv1alpha1.DatasetStatus{
		{Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 2, Read: 150, Loaded: 145, Duplicates: 3, Rejected: 2, Job: "fleet-may-vehicles-6f1c2"},
		{Name: haulv1alpha1.DatasetShipments, Files: 1, FilesDone: 1, Read: 10, Loaded: 9, Rejected: 1, Job: "fleet-may-shipments-6f1c2"},
	}
	// A pod of another Job, with our labels: not counted.
	stranger := makePod(makeJob(run, roleVehicles).obj(), 0, 0)
	stranger.OwnerReferences[0].UID = "someone-else"
	stranger.reported(0, summary(run, haulv1alpha1.DatasetVehicles, 0, 1e6, 1e6, 0, 0))

	inputError := "v1.json: line 7, byte 2048: unexpected end of JSON input"
	tooMany := "20 rejects, more than --max-rejects=10"

	tests := []struct {
		name     string
		run      *haulv1alpha1.IngestionRun
		jobs     []*batchv1.Job
		pods     []corev1.Pod
		want     step
		progress string
		datasets []haulv1alpha1.DatasetStatus
		precalc  string
		conds    []metav1.Condition
	}{
		{
			name:     "nothing yet: the first dataset's Job",
			run:      run,
			want:     step{create: roleVehicles, phase: haulv1alpha1.PhaseIngesting},
			progress: "0%",
			datasets: []haulv1alpha1.DatasetStatus{{Name: haulv1alpha1.DatasetVehicles, Files: 2}, {Name: haulv1alpha1.DatasetShipments, Files: 1}},
			conds:    conds(loading("0%"), waitingForLoad),
		},
		{
			name: "running: summaries of done files, progress of running ones",
			run:  run,
			jobs: []*batchv1.Job{vehicles.obj()},
			pods: pods(
				makePod(vehicles.obj(), 0, 0).reported(0, withReasons(summary(run, haulv1alpha1.DatasetVehicles, 0, 100, 90, 4, 6),
					map[string]int64{"missing_field": 4, "bad_type": 2})),
				makePod(vehicles.obj(), 1, 0).running().progress(jobreport.Progress{BytesRead: 30, BytesTotal: 120, Read: 40, Loaded: 37, Rejected: 3}),
				stranger,
			),
			want: step{phase: haulv1alpha1.PhaseIngesting},
			// 1 + 30/120 of 3 files.
			progress: "41%",
			datasets: []haulv1alpha1.DatasetStatus{
				{
					Name: haulv1alpha1.DatasetVehicles, Files: 2, Read: 140, Loaded: 127, Duplicates: 4, Rejected: 9,
					RejectedByReason: map[string]int64{"missing_field": 4, "bad_type": 2}, Job: "fleet-may-vehicles-6f1c2",
				},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: conds(loading("41%"), waitingForLoad),
		},
		{
			name: "files done come from the Job's completed indexes; unknown sizes add no progress",
			run:  run,
			jobs: []*batchv1.Job{makeJob(run, roleVehicles).completedIndexes("1").obj()},
			pods: pods(
				makePod(vehicles.obj(), 0, 0).running().progress(jobreport.Progress{BytesRead: 30, BytesTotal: -1, Read: 5, Loaded: 5}),
				makePod(vehicles.obj(), 1, 0).reported(0, summary(run, haulv1alpha1.DatasetVehicles, 1, 7, 7, 0, 0)),
			),
			want:     step{phase: haulv1alpha1.PhaseIngesting},
			progress: "33%",
			datasets: []haulv1alpha1.DatasetStatus{
				{Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 1, Read: 12, Loaded: 12, Job: "fleet-may-vehicles-6f1c2"},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: conds(loading("33%"), waitingForLoad),
		},
		{
			name: "an index counts its succeeded pod, not its failed attempts",
			run:  run,
			jobs: []*batchv1.Job{vehiclesDone},
			pods: pods(
				// A summary counts all the attempts of its run id: the
				// failed attempt's records are in the succeeded one's.
				makePod(vehiclesDone, 0, 0).reported(1, withCounts(failedSummary(run, haulv1alpha1.DatasetVehicles, 0, jobreport.ReasonLoadFailed, "connection reset"), 50, 50, 0)),
				makePod(vehiclesDone, 0, 1).reported(0, withReasons(summary(run, haulv1alpha1.DatasetVehicles, 0, 120, 118, 0, 2), map[string]int64{"bad_type": 2})),
				// Even when a failed pod is the newer.
				makePod(vehiclesDone, 1, 0).reported(0, summary(run, haulv1alpha1.DatasetVehicles, 1, 80, 80, 0, 0)),
				makePod(vehiclesDone, 1, 1).reported(1, withCounts(failedSummary(run, haulv1alpha1.DatasetVehicles, 1, jobreport.ReasonLoadFailed, "late"), 999, 999, 0)),
			),
			want:     step{create: roleShipments, phase: haulv1alpha1.PhaseIngesting},
			progress: "66%",
			datasets: []haulv1alpha1.DatasetStatus{
				{
					Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 2, Read: 200, Loaded: 198, Rejected: 2,
					RejectedByReason: map[string]int64{"bad_type": 2}, Job: "fleet-may-vehicles-6f1c2",
				},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: conds(loading("66%"), waitingForLoad),
		},
		{
			name: "a finished Job's counts are kept when its pods are gone",
			run: makeRun("fleet-may").vehicles("v0.json", "v1.json").shipments("s0.json").started().recorded(
				haulv1alpha1.DatasetStatus{
					Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 2, Read: 200, Loaded: 198, Rejected: 2,
					RejectedByReason: map[string]int64{"bad_type": 2}, Job: "fleet-may-vehicles-6f1c2",
				},
				haulv1alpha1.DatasetStatus{Name: haulv1alpha1.DatasetShipments, Files: 1, Read: 4, Loaded: 4, Job: "fleet-may-shipments-6f1c2"},
			).obj(),
			jobs:     []*batchv1.Job{vehiclesDone, shipments.obj()},
			want:     step{phase: haulv1alpha1.PhaseIngesting},
			progress: "66%",
			datasets: []haulv1alpha1.DatasetStatus{
				{
					Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 2, Read: 200, Loaded: 198, Rejected: 2,
					RejectedByReason: map[string]int64{"bad_type": 2}, Job: "fleet-may-vehicles-6f1c2",
				},
				// A running Job's counts are what its pods say now.
				{Name: haulv1alpha1.DatasetShipments, Files: 1, Job: "fleet-may-shipments-6f1c2"},
			},
			conds: conds(loading("66%"), waitingForLoad),
		},
		{
			name: "a Job is finished by its conditions, not its counters",
			run:  run,
			jobs: []*batchv1.Job{func() *batchv1.Job {
				j := makeJob(run, roleVehicles).completedIndexes("0-1").
					condition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "").obj()
				j.Status.Succeeded, j.Status.Failed = 2, 1
				return j
			}()},
			want:     step{phase: haulv1alpha1.PhaseIngesting},
			progress: "0%",
			datasets: []haulv1alpha1.DatasetStatus{
				{Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 2, Job: "fleet-may-vehicles-6f1c2"},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: conds(loading("0%"), waitingForLoad),
		},
		{
			name:     "every dataset loaded: the precalc Job",
			run:      run,
			jobs:     []*batchv1.Job{vehiclesDone, shipmentsDone},
			pods:     loadedPods,
			want:     step{create: rolePrecalc, phase: haulv1alpha1.PhasePrecalculating},
			progress: "100%",
			datasets: loadedDatasets,
			conds: conds(allLoaded,
				cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalculating, "starting the refresh")),
		},
		{
			name:     "precalc running",
			run:      run,
			jobs:     []*batchv1.Job{vehiclesDone, shipmentsDone, precalc.obj()},
			pods:     append(loadedPods, makePod(precalc.obj(), 0, 0).running().obj()),
			want:     step{phase: haulv1alpha1.PhasePrecalculating},
			progress: "100%",
			datasets: loadedDatasets,
			precalc:  "fleet-may-precalc-6f1c2",
			conds: conds(allLoaded,
				cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalculating, "job fleet-may-precalc-6f1c2 refreshes the aggregates")),
		},
		{
			name:     "precalc complete",
			run:      run,
			jobs:     []*batchv1.Job{vehiclesDone, shipmentsDone, makeJob(run, rolePrecalc).complete().obj()},
			pods:     loadedPods,
			want:     step{phase: haulv1alpha1.PhaseSucceeded},
			progress: "100%",
			datasets: loadedDatasets,
			precalc:  "fleet-may-precalc-6f1c2",
			conds: conds(allLoaded,
				cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionTrue, ReasonPrecalculated, "the aggregates include the run")),
		},
		{
			name:     "precalc disabled: done once loaded",
			run:      noPrecalc,
			jobs:     []*batchv1.Job{vehiclesDone, shipmentsDone},
			pods:     loadedPods,
			want:     step{phase: haulv1alpha1.PhaseSucceeded},
			progress: "100%",
			datasets: loadedDatasets,
			conds: conds(allLoaded,
				cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalcDisabled, "spec.precalc is false")),
		},
		{
			name: "precalc failed: its pod's log tail",
			run:  run,
			jobs: []*batchv1.Job{vehiclesDone, shipmentsDone,
				makeJob(run, rolePrecalc).failed(batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit").obj()},
			pods: append(pods(
				makePod(precalc.obj(), 0, 0).terminated(1, "refresh day 2024-05-03: connection refused\n"),
				makePod(precalc.obj(), 0, 1).terminated(1, "refresh day 2024-05-03: password authentication failed\n"),
			), loadedPods...),
			want: step{phase: haulv1alpha1.PhaseFailed, reason: ReasonPrecalcFailed,
				message: "pod fleet-may-precalc-6f1c2-0-b exited 1: refresh day 2024-05-03: password authentication failed"},
			progress: "100%",
			datasets: loadedDatasets,
			precalc:  "fleet-may-precalc-6f1c2",
			conds: conds(allLoaded,
				cond(haulv1alpha1.ConditionPrecalculated, metav1.ConditionFalse, ReasonPrecalcFailed,
					"pod fleet-may-precalc-6f1c2-0-b exited 1: refresh day 2024-05-03: password authentication failed")),
		},
		{
			name: "ingest failed on too many rejects: the summary's reason and message, no next Job",
			run:  run,
			jobs: []*batchv1.Job{makeJob(run, roleVehicles).completedIndexes("1").
				failed(batchv1.JobReasonPodFailurePolicy, "Container ingest for pod fleet/fleet-may-vehicles-6f1c2-0-a failed with exit code 3 matching FailJob rule at index 0").obj()},
			pods: pods(
				makePod(vehicles.obj(), 0, 0).reported(3, withReasons(withCounts(
					failedSummary(run, haulv1alpha1.DatasetVehicles, 0, jobreport.ReasonTooManyRejects, tooMany), 1000, 980, 20),
					map[string]int64{"bad_type": 20})),
				makePod(vehicles.obj(), 1, 0).reported(0, summary(run, haulv1alpha1.DatasetVehicles, 1, 5, 5, 0, 0)),
			),
			want: step{phase: haulv1alpha1.PhaseFailed, reason: jobreport.ReasonTooManyRejects,
				message: string(testRunUID) + "-vehicles-0 (pod fleet-may-vehicles-6f1c2-0-a): " + tooMany},
			progress: "33%",
			datasets: []haulv1alpha1.DatasetStatus{
				{
					Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 1, Read: 1005, Loaded: 985, Rejected: 20,
					RejectedByReason: map[string]int64{"bad_type": 20}, Job: "fleet-may-vehicles-6f1c2",
				},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: ingestFailed(jobreport.ReasonTooManyRejects,
				string(testRunUID)+"-vehicles-0 (pod fleet-may-vehicles-6f1c2-0-a): "+tooMany),
		},
		{
			name: "ingest failed on its input: the newest failed pod's summary",
			run:  run,
			jobs: []*batchv1.Job{vehiclesDone, makeJob(run, roleShipments).failed(batchv1.JobReasonPodFailurePolicy, "exit code 3").obj()},
			pods: append(pods(
				makePod(shipments.obj(), 0, 0).reported(1, failedSummary(run, haulv1alpha1.DatasetShipments, 0, jobreport.ReasonLoadFailed, "copy: connection reset")),
				makePod(shipments.obj(), 0, 1).reported(3, failedSummary(run, haulv1alpha1.DatasetShipments, 0, jobreport.ReasonInputError, inputError)),
			), loadedPods[:2]...),
			want: step{phase: haulv1alpha1.PhaseFailed, reason: jobreport.ReasonInputError,
				message: string(testRunUID) + "-shipments-0 (pod fleet-may-shipments-6f1c2-0-b): " + inputError},
			progress: "66%",
			datasets: []haulv1alpha1.DatasetStatus{
				loadedDatasets[0],
				{Name: haulv1alpha1.DatasetShipments, Files: 1, Job: "fleet-may-shipments-6f1c2"},
			},
			conds: ingestFailed(jobreport.ReasonInputError,
				string(testRunUID)+"-shipments-0 (pod fleet-may-shipments-6f1c2-0-b): "+inputError),
		},
		{
			name: "ingest failed to load: IngestFailed with the summary's message",
			run:  run,
			jobs: []*batchv1.Job{makeJob(run, roleVehicles).failed(batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit").obj()},
			pods: pods(
				makePod(vehicles.obj(), 0, 0).reported(1, failedSummary(run, haulv1alpha1.DatasetVehicles, 0, jobreport.ReasonLoadFailed, "copy batch 3: connection reset by peer")),
			),
			want: step{phase: haulv1alpha1.PhaseFailed, reason: ReasonIngestFailed,
				message: string(testRunUID) + "-vehicles-0 (pod fleet-may-vehicles-6f1c2-0-a): copy batch 3: connection reset by peer"},
			progress: "0%",
			datasets: []haulv1alpha1.DatasetStatus{
				{Name: haulv1alpha1.DatasetVehicles, Files: 2, Job: "fleet-may-vehicles-6f1c2"},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: ingestFailed(ReasonIngestFailed,
				string(testRunUID)+"-vehicles-0 (pod fleet-may-vehicles-6f1c2-0-a): copy batch 3: connection reset by peer"),
		},
		{
			name: "ingest crashed: the log tail",
			run:  run,
			jobs: []*batchv1.Job{makeJob(run, roleVehicles).failed(batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit").obj()},
			pods: pods(
				makePod(vehicles.obj(), 0, 0).terminated(2, "Error: unknown flag: --colour\n"),
			),
			want: step{phase: haulv1alpha1.PhaseFailed, reason: ReasonIngestFailed,
				message: "pod fleet-may-vehicles-6f1c2-0-a exited 2: Error: unknown flag: --colour"},
			progress: "0%",
			datasets: []haulv1alpha1.DatasetStatus{
				{Name: haulv1alpha1.DatasetVehicles, Files: 2, Job: "fleet-may-vehicles-6f1c2"},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: ingestFailed(ReasonIngestFailed,
				"pod fleet-may-vehicles-6f1c2-0-a exited 2: Error: unknown flag: --colour"),
		},
		{
			name: "deadline exceeded: the Job's condition",
			run:  run,
			jobs: []*batchv1.Job{makeJob(run, roleVehicles).completedIndexes("0").
				failed(batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline").obj()},
			pods: pods(
				makePod(vehicles.obj(), 0, 0).reported(0, summary(run, haulv1alpha1.DatasetVehicles, 0, 10, 10, 0, 0)),
				makePod(vehicles.obj(), 1, 0).running(),
			),
			want: step{phase: haulv1alpha1.PhaseFailed, reason: ReasonDeadlineExceeded,
				message: "job fleet-may-vehicles-6f1c2 failed: DeadlineExceeded: Job was active longer than specified deadline"},
			progress: "33%",
			datasets: []haulv1alpha1.DatasetStatus{
				{Name: haulv1alpha1.DatasetVehicles, Files: 2, FilesDone: 1, Read: 10, Loaded: 10, Job: "fleet-may-vehicles-6f1c2"},
				{Name: haulv1alpha1.DatasetShipments, Files: 1},
			},
			conds: ingestFailed(ReasonDeadlineExceeded,
				"job fleet-may-vehicles-6f1c2 failed: DeadlineExceeded: Job was active longer than specified deadline"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.run.DeepCopy()
			ch := children{jobs: map[jobRole]*batchv1.Job{}, pods: tt.pods}
			for _, j := range tt.jobs {
				ch.jobs[jobRole(j.Labels[LabelRole])] = j
			}
			got := observe(r, ch)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("step mismatch (-want +got):\n%s", diff)
			}
			want := haulv1alpha1.IngestionRunStatus{
				Phase:      tt.run.Status.Phase, // observe leaves the phase to finish
				StartTime:  tt.run.Status.StartTime,
				Conditions: tt.conds,
				Datasets:   tt.datasets,
				Progress:   tt.progress,
				PrecalcJob: tt.precalc,
			}
			for _, d := range tt.datasets {
				want.Loaded += d.Loaded
				want.Rejected += d.Rejected
			}
			if diff := cmp.Diff(want, r.Status, ignoreTransitionTimes); diff != "" {
				t.Errorf("status mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A condition's message is cut to stay readable; the run's message keeps
// all of it.
func TestObserveCutsLongConditionMessages(t *testing.T) {
	run := makeRun("fleet-may").vehicles("v0.json").started().obj()
	long := strings.Repeat("é", 1000) // 2,000 bytes
	job := makeJob(run, roleVehicles).failed(batchv1.JobReasonPodFailurePolicy, "exit code 3").obj()
	pod := makePod(job, 0, 0).reported(3, failedSummary(run, haulv1alpha1.DatasetVehicles, 0, jobreport.ReasonInputError, long))

	got := observe(run, children{jobs: map[jobRole]*batchv1.Job{roleVehicles: job}, pods: pods(pod)})
	wantMessage := string(testRunUID) + "-vehicles-0 (pod fleet-may-vehicles-6f1c2-0-a): " + long
	if got.message != wantMessage {
		t.Errorf("step message = %q, want %q", got.message, wantMessage)
	}
	c := findCondition(run.Status.Conditions, haulv1alpha1.ConditionIngested)
	// 1,021 bytes cut to whole runes (1,020), then the ellipsis.
	wantCond := wantMessage[:1020] + "…"
	if c == nil || c.Message != wantCond {
		t.Errorf("Ingested condition = %+v, want message %q (%d bytes)", c, wantCond, len(wantCond))
	}
}

func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

func TestFinish(t *testing.T) {
	now := metav1.NewTime(testEpoch.Add(time.Hour))
	tests := []struct {
		name string
		step step
		want haulv1alpha1.IngestionRunStatus
	}{
		{
			name: "still ingesting",
			step: step{phase: haulv1alpha1.PhaseIngesting},
			want: haulv1alpha1.IngestionRunStatus{
				Phase: haulv1alpha1.PhaseIngesting, Progress: "41%",
				Conditions: []metav1.Condition{cond(haulv1alpha1.ConditionSucceeded, metav1.ConditionUnknown, "Ingesting", "the run is ingesting")},
			},
		},
		{
			name: "precalculating",
			step: step{phase: haulv1alpha1.PhasePrecalculating, create: rolePrecalc},
			want: haulv1alpha1.IngestionRunStatus{
				Phase: haulv1alpha1.PhasePrecalculating, Progress: "41%",
				Conditions: []metav1.Condition{cond(haulv1alpha1.ConditionSucceeded, metav1.ConditionUnknown, "Precalculating", "the run is precalculating")},
			},
		},
		{
			name: "succeeded",
			step: step{phase: haulv1alpha1.PhaseSucceeded},
			want: haulv1alpha1.IngestionRunStatus{
				Phase: haulv1alpha1.PhaseSucceeded, Progress: "100%", CompletionTime: &now,
				Conditions: []metav1.Condition{cond(haulv1alpha1.ConditionSucceeded, metav1.ConditionTrue, ReasonSucceeded, "the run succeeded")},
			},
		},
		{
			name: "failed",
			step: step{phase: haulv1alpha1.PhaseFailed, reason: jobreport.ReasonTooManyRejects, message: "too many"},
			want: haulv1alpha1.IngestionRunStatus{
				Phase: haulv1alpha1.PhaseFailed, Progress: "41%", CompletionTime: &now,
				Reason: jobreport.ReasonTooManyRejects, Message: "too many",
				Conditions: []metav1.Condition{cond(haulv1alpha1.ConditionSucceeded, metav1.ConditionFalse, jobreport.ReasonTooManyRejects, "too many")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := makeRun("fleet-may").vehicles("v0.json").obj()
			run.Status.Progress = "41%"
			finish(run, tt.step, now)
			if diff := cmp.Diff(tt.want, run.Status, ignoreTransitionTimes); diff != "" {
				t.Errorf("status mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
