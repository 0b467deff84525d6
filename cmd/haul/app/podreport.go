package app

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/haul-dev/haul/internal/jobreport"
	"github.com/haul-dev/haul/jobs/ingest"
)

// writeSummary writes the outcome of a one-dataset run for the controller
// (jobreport.Summary), e.g. to the container's termination message.
func writeSummary(path, runID string, inputs map[ingest.Dataset][]string, report *ingest.Report, runErr error) error {
	s := jobreport.Summary{RunID: runID, Status: "failed"}
	for ds := range inputs {
		s.Dataset = string(ds)
	}
	if report != nil {
		s.RunID, s.Status = report.RunID, report.Status
		for _, d := range report.Datasets {
			s.Read, s.Loaded, s.Duplicates, s.Rejected = d.Read, d.Loaded, d.Duplicates, d.Rejected
			s.RejectedByReason = d.RejectedByReason
		}
	}
	if s.RunID == "" {
		s.RunID = "unknown"
	}
	if runErr != nil {
		s.Status, s.Message = "failed", runErr.Error()
		switch {
		case errors.Is(runErr, ingest.ErrTooManyRejects):
			s.Reason = jobreport.ReasonTooManyRejects
		case ingest.IsInputError(runErr):
			s.Reason = jobreport.ReasonInputError
		default:
			s.Reason = jobreport.ReasonLoadFailed
		}
	}
	b, err := jobreport.Encode(s)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// splitPod reads --annotate-pod's NAMESPACE/NAME.
func splitPod(pod string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(pod, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return "", "", usagef("--annotate-pod %q: want NAMESPACE/NAME", pod)
	}
	return namespace, name, nil
}

// annotatePod keeps the pod's progress annotation up to date every interval
// and once more when stopped. The pod's service account needs to patch pods.
// Progress is a convenience: without API access the load goes on, unreported.
func annotatePod(ctx context.Context, pod string, every time.Duration, p *ingest.Progress, log logr.Logger) (stop func(), err error) {
	namespace, name, err := splitPod(pod)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	var cs *kubernetes.Clientset
	if err == nil {
		cs, err = kubernetes.NewForConfig(cfg)
	}
	if err != nil {
		log.Error(err, "cannot report progress: no Kubernetes API access", "pod", pod)
		return func() {}, nil
	}
	log = log.WithValues("pod", pod)
	failed := false
	annotate := func(ctx context.Context) {
		s := p.Snapshot()
		value, _ := json.Marshal(jobreport.Progress{BytesRead: s.BytesRead, BytesTotal: s.BytesTotal,
			Read: s.Read, Loaded: s.Loaded, Rejected: s.Rejected})
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{jobreport.ProgressAnnotation: string(value)}}})
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := cs.CoreV1().Pods(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "haul-ingest"})
		if err != nil && !failed {
			log.Error(err, "cannot annotate the pod with progress")
		}
		failed = err != nil
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				annotate(context.WithoutCancel(ctx))
				return
			case <-t.C:
				annotate(ctx)
			}
		}
	}()
	return func() { close(done); <-finished }, nil
}
