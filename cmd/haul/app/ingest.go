package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/jobreport"
	"github.com/haul-dev/haul/internal/opsserver"
	"github.com/haul-dev/haul/jobs/ingest"
	"github.com/haul-dev/haul/jobs/ingest/progressview"
)

type ingestFlags struct {
	urlFlag       string
	inputs        map[ingest.Dataset]*[]string
	runID         string
	rejectsDir    string
	batchSize     int
	workers       int
	retries       int
	logCacheMB    int
	maxRejects    string
	output        string
	metricsAddr   string
	progress      string
	group         string
	fileIndex     int
	summaryFile   string
	annotatePod   string
	annotateInt   time.Duration
	allowMissing  bool
	sourceTimeout time.Duration
}

func newIngestCmd(logs *logSettings) *cobra.Command {
	f := ingestFlags{inputs: map[ingest.Dataset]*[]string{}}
	cmd := &cobra.Command{
		Use:   "ingest --vehicles SRC --vehicle-logs SRC --shipments SRC",
		Short: "Load vehicles, vehicle logs and shipments JSON into PostgreSQL",
		Long: `Stream each input (a local path or an http(s) URL; a JSON array or NDJSON;
optionally gzip) into PostgreSQL with binary COPY, in batches committed with a
checkpoint. Bad records are rejected with their reason, position and text into
REJECTS_DIR/RUN_ID/DATASET.rejects.ndjson and never stop the run. Running again
with the same --run-id resumes after the last committed batch.

Datasets load in the order vehicles, vehicle_logs, shipments; any may be
omitted, and a flag may be repeated to load several files.

An input that does not exist fails the run before anything loads, unless
--allow-missing: then it is skipped with a warning.

Exit status: 0 the run succeeded; 1 it failed (the report says why; it can be
resumed); 2 bad flags; 3 it failed on its input (a missing input, a file that
cannot be read to its end, more rejects than --max-rejects, or every record of
a dataset rejected), so running it again on the same input fails the same way.

In a Kubernetes Indexed Job, pod N loads file N with --file-index N, writes
its summary to its termination message with --summary-file and its progress
to its own pod with --annotate-pod.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runIngest(cmd, &f, logs) },
	}
	fs := cmd.Flags()
	for _, ds := range ingest.LoadOrder {
		files := new([]string)
		f.inputs[ds] = files
		fs.StringArrayVar(files, strings.ReplaceAll(string(ds), "_", "-"), nil, string(ds)+" input: a path or http(s) URL (repeat for several files)")
	}
	addDatabaseFlag(cmd, &f.urlFlag)
	fs.StringVar(&f.runID, "run-id", "", "run id; the same id resumes a run (default: UTC time and a random suffix)")
	fs.StringVar(&f.rejectsDir, "rejects-dir", ingest.DefaultRejectsDir, "folder for rejects, one subfolder per run")
	fs.IntVar(&f.batchSize, "batch-size", ingest.DefaultBatchSize, "records per batch (one transaction each)")
	fs.IntVar(&f.workers, "workers", ingest.DefaultWorkers, "batches loaded at once, each on its own connection")
	fs.IntVar(&f.logCacheMB, "log-cache-mb", ingest.DefaultLogCache>>20, "MiB of stored vehicle logs read ahead to resolve shipments (0 for none)")
	fs.IntVar(&f.retries, "retries", ingest.DefaultRetries, fmt.Sprintf("retries of a batch after a transient database error (0 for none, at most %d)", ingest.MaxRetries))
	fs.StringVar(&f.maxRejects, "max-rejects", "", "fail the run once rejects exceed N, or P% of records read (after the first 1,000)")
	fs.StringVar(&f.output, "output", "text", "report format: text or json")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. :9090)")
	fs.StringVar(&f.progress, "progress", progressview.ModeAuto, "progress display: auto (a bar on a terminal, else log lines), bar, log, none")
	fs.StringVar(&f.group, "group", "", "runs of one group count as one run for vehicles re-delivered (docs/data.md#45-duplicates-and-re-delivery) (default: the run id)")
	fs.IntVar(&f.fileIndex, "file-index", -1, "load only the N-th (from 0) of the given files of the one dataset given")
	fs.StringVar(&f.summaryFile, "summary-file", "", "write a JSON summary (at most 4 KiB) here at the end, e.g. /dev/termination-log")
	fs.StringVar(&f.annotatePod, "annotate-pod", "", "NAMESPACE/NAME: report progress in this pod's "+jobreport.ProgressAnnotation+" annotation")
	fs.DurationVar(&f.annotateInt, "annotate-every", 10*time.Second, "how often --annotate-pod updates the annotation")
	fs.DurationVar(&f.sourceTimeout, "source-timeout", ingest.DefaultSourceTimeout, "give up on a URL input that sends nothing for this long (then exit 1, retryable)")
	fs.BoolVar(&f.allowMissing, "allow-missing", false, "skip a local input that does not exist, with a warning (default: the run fails before loading)")
	return cmd
}

func runIngest(cmd *cobra.Command, f *ingestFlags, logs *logSettings) error {
	if f.output != "text" && f.output != "json" {
		return usagef("--output %q: want text or json", f.output)
	}
	view, err := progressview.New(f.progress, cmd.ErrOrStderr())
	if err != nil {
		return usageError{err}
	}
	// Log lines go through the view, which prints them above its bars.
	log := logs.logger(view.Writer())
	ctx := logr.NewContext(cmd.Context(), log)
	if f.annotatePod != "" {
		if _, _, err := splitPod(f.annotatePod); err != nil {
			return err
		}
	}
	threshold, err := ingest.ParseThreshold(f.maxRejects)
	if err != nil {
		return usageError{err}
	}
	url, err := databaseURL(f.urlFlag)
	if err != nil {
		return err
	}
	inputs := map[ingest.Dataset][]string{}
	for ds, files := range f.inputs {
		if len(*files) > 0 {
			inputs[ds] = *files
		}
	}
	if len(inputs) == 0 {
		return usagef("%v: give at least one of --vehicles, --vehicle-logs, --shipments", ingest.ErrNoInput)
	}
	if f.fileIndex >= 0 {
		if inputs, err = pickFile(inputs, f.fileIndex); err != nil {
			return usageError{err}
		}
	}
	if f.summaryFile != "" && len(inputs) != 1 {
		return usagef("--summary-file: give the files of one dataset, not %d", len(inputs))
	}
	if f.annotateInt <= 0 || f.sourceTimeout <= 0 {
		return usagef("--annotate-every and --source-timeout must be positive")
	}
	if f.batchSize < 1 || f.workers < 1 || f.retries < 0 || f.retries > ingest.MaxRetries {
		return usagef("--batch-size and --workers must be at least 1, --retries from 0 to %d", ingest.MaxRetries)
	}
	if f.logCacheMB < 0 || f.logCacheMB > ingest.MaxLogCache>>20 {
		return usagef("--log-cache-mb %d: want 0 to %d", f.logCacheMB, ingest.MaxLogCache>>20)
	}

	progress := &ingest.Progress{}
	if f.retries == 0 {
		f.retries = -1 // ingest.Options reads 0 as its default
	}
	logCache := int64(f.logCacheMB) << 20
	if logCache == 0 {
		logCache = -1
	}
	opts := ingest.Options{
		RunID: f.runID, Group: f.group, Inputs: inputs, AllowMissing: f.allowMissing, SourceTimeout: f.sourceTimeout,
		RejectsDir: f.rejectsDir,
		BatchSize:  f.batchSize, Workers: f.workers, Retries: f.retries, LogCache: logCache, MaxRejects: threshold,
		Log: log, Progress: progress,
	}
	// Every flag is checked before connecting: a typo costs no connection.
	if err := opts.Validate(); err != nil {
		return usageError{err}
	}
	pool, err := openPool(ctx, url, f.workers+2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if f.metricsAddr != "" {
		reg := prometheus.NewRegistry()
		opts.Metrics = ingest.NewMetrics(reg)
		stop, err := opsserver.Serve(ctx, f.metricsAddr, opsserver.Handler(reg, nil), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if spec := os.Getenv(envFailpoints); spec != "" {
		if opts.Failpoint, err = failpoint(spec); err != nil {
			return usageError{err}
		}
	}
	stopAnnotating := func() {}
	if f.annotatePod != "" {
		if stopAnnotating, err = annotatePod(ctx, f.annotatePod, f.annotateInt, progress, log); err != nil {
			return err
		}
	}
	view.Start(progress, log)
	report, runErr := ingest.Run(ctx, pool, opts)
	view.Stop()
	stopAnnotating()
	if f.summaryFile != "" {
		if err := writeSummary(f.summaryFile, f.runID, inputs, report, runErr); err != nil {
			log.Error(err, "cannot write the summary", "path", f.summaryFile)
		}
	}
	if report != nil {
		if err := writeReport(cmd.OutOrStdout(), f.output, report); err != nil {
			return err
		}
	}
	if runErr != nil && ingest.IsInputError(runErr) {
		return inputError{runErr}
	}
	return runErr
}

// pickFile keeps the index-th file of the one dataset in inputs.
func pickFile(inputs map[ingest.Dataset][]string, index int) (map[ingest.Dataset][]string, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("--file-index: give the files of one dataset, not %d", len(inputs))
	}
	for ds, files := range inputs {
		if index >= len(files) {
			return nil, fmt.Errorf("--file-index %d: there are %d %s files", index, len(files), ds)
		}
		return map[ingest.Dataset][]string{ds: {files[index]}}, nil
	}
	return inputs, nil
}

func openPool(ctx context.Context, url string, conns int) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(url, conns)
	if err != nil {
		return nil, err
	}
	return db.OpenConfig(ctx, cfg)
}

func poolConfig(url string, conns int) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, usagef("--%s: invalid connection string", db.FlagDatabaseURL)
	}
	cfg.MaxConns = int32(conns)
	return cfg, nil
}

func writeReport(w io.Writer, format string, report *ingest.Report) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteText(w)
}

// envFailpoints makes `haul ingest` kill itself at a named point of the run,
// for crash tests: "NAME=N" kills it with SIGKILL the N-th time NAME is
// reached (see ingest.Options.Failpoint for the names). Only a haul built
// with -tags failpoints has them (failpoints.go); the shipped binary refuses
// the variable (nofailpoints.go).
const envFailpoints = "HAUL_FAILPOINTS"
