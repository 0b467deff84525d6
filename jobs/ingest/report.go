package ingest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/haul-dev/haul/internal/dataset"
	"github.com/haul-dev/haul/internal/runstore"
)

// Statuses of a run and of a dataset.
const (
	statusSucceeded = "succeeded"
	statusFailed    = "failed"
	statusSkipped   = "skipped"
)

// Report is what a run did, per dataset (docs/data.md#47-the-run-report).
type Report struct {
	RunID       string          `json:"run_id"`
	Status      string          `json:"status"`
	Error       *Failure        `json:"error,omitempty"`
	StartedAt   time.Time       `json:"started_at"`
	FinishedAt  time.Time       `json:"finished_at"`
	RejectsDir  string          `json:"rejects_dir"`
	DaysTouched int64           `json:"days_touched"`
	Datasets    []DatasetReport `json:"datasets"`
}

// Succeeded reports whether the run succeeded.
func (r *Report) Succeeded() bool { return r.Status == statusSucceeded }

// DatasetReport is one dataset's outcome, counting every attempt of the run.
type DatasetReport struct {
	Dataset Dataset  `json:"dataset"`
	Status  string   `json:"status"`
	Files   []string `json:"files"`
	dataset.Counts
	RejectsFile string   `json:"rejects_file"`
	Warnings    []string `json:"warnings,omitempty"`
	Error       *Failure `json:"error,omitempty"`
}

// row is d as the bookkeeping stores it (and the API shows it).
func (d *DatasetReport) row() *runstore.RunDataset {
	return &runstore.RunDataset{
		Dataset: string(d.Dataset), Status: d.Status, Files: d.Files, Counts: d.Counts,
		RejectsFile: &d.RejectsFile, Warnings: d.Warnings, Error: d.Error,
	}
}

func (d *DatasetReport) setCounts(c counts) {
	d.Read, d.Loaded, d.Duplicates, d.Rejected = c.read, c.loaded, c.duplicates, c.rejected
	d.RejectedByReason = c.byReason
	if d.RejectedByReason == nil {
		d.RejectedByReason = map[string]int64{}
	}
}

// Failure says why a run or dataset failed and, for a file-level error,
// where. It is the bookkeeping's type: stored with the run and shown by the
// API as it is reported.
type Failure = runstore.FileError

// fileFailure is a file-level error with the file it happened in.
type fileFailure struct {
	file string
	err  error
}

func (e *fileFailure) Error() string { return e.file + ": " + e.err.Error() }
func (e *fileFailure) Unwrap() error { return e.err }

func describeFailure(err error) *Failure {
	f := &Failure{Message: err.Error()}
	var ff *fileFailure
	if errors.As(err, &ff) {
		f.File = ff.file
	}
	var fe *FileError
	if errors.As(err, &fe) {
		f.Line, f.Offset = fe.Line, &fe.Offset
	}
	return f
}

// WriteText prints the report as a table for people.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dataset\tstatus\tread\tloaded\tduplicates\trejected\t")
	for _, d := range r.Datasets {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", d.Dataset, d.Status, d.Read, d.Loaded, d.Duplicates, d.Rejected)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range r.Datasets {
		if d.Rejected > 0 {
			fmt.Fprintf(w, "%s rejects (%s):", d.Dataset, d.RejectsFile)
			for _, reason := range slices.Sorted(maps.Keys(d.RejectedByReason)) {
				fmt.Fprintf(w, " %s %d", reason, d.RejectedByReason[reason])
			}
			fmt.Fprintln(w)
		}
		for _, warning := range d.Warnings {
			fmt.Fprintf(w, "warning: %s: %s\n", d.Dataset, warning)
		}
	}
	took := r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond)
	fmt.Fprintf(w, "run %s %s in %s; %d days touched\n", r.RunID, r.Status, took, r.DaysTouched)
	if r.Error != nil {
		fmt.Fprintf(w, "error: %s\n", r.Error.Message)
	}
	return nil
}
