package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// Defaults of Options.
const (
	DefaultRejectsDir = "data/rejects"
	DefaultBatchSize  = 10_000
	DefaultWorkers    = 2
	DefaultRetries    = 3
	// MaxRetries bounds Retries: with the backoff's cap, the retries of
	// one batch wait at most a few minutes in all.
	MaxRetries = 10
	// DefaultLogCache is the memory for stored vehicle logs read ahead to
	// resolve shipments (see logCache): about 8 million logs with 9-byte
	// ids. The cache takes what the stored logs need: about 165 MiB for the
	// 5M logs of 10M shipments of haul gen's shape.
	DefaultLogCache = 256 << 20
	// MaxLogCache bounds LogCache.
	MaxLogCache = 4 << 30
)

// ErrNoInput is the failure of a run none of whose inputs exist.
var ErrNoInput = errors.New("no input files")

// ErrMissingInput is the failure of a run naming a local input that does
// not exist (docs/data.md#92-file-level-cases, F1).
var ErrMissingInput = errors.New("input does not exist")

// ErrConcurrentWriter is the failure of a run whose checkpoint another
// process moved since this one's last commit: two processes load the same
// run id (its lock was lost with its session). The batch is not committed.
var ErrConcurrentWriter = errors.New("another process loads the same run: its checkpoint moved")

// ErrAllRejected is the failure of a run that read records of a dataset
// and rejected every one (docs/data.md#92-file-level-cases, F16): most likely the wrong file.
var ErrAllRejected = errors.New("every record was rejected")

// Options configure a run.
type Options struct {
	// RunID names the run; running again with the same id resumes it.
	// Empty means a new id (UTC time and a random suffix).
	RunID string
	// Group makes runs count as one for the vehicles' re-delivery rule
	// (docs/data.md#45-duplicates-and-re-delivery): a vehicle stored by a run of the same group is not
	// replaced. The pods of one IngestionRun, one run id each, share a
	// group. Empty means the run id.
	Group string
	// Inputs lists each dataset's files (local paths or http(s) URLs), in
	// the order they are loaded.
	Inputs map[Dataset][]string
	// AllowMissing skips a local input that does not exist, with a
	// warning in the report; without it the run fails before anything
	// loads (docs/data.md#92-file-level-cases, F1).
	AllowMissing bool
	RejectsDir   string
	BatchSize    int
	Workers      int
	MaxRejects   Threshold
	// Retries is how often a batch is retried after a transient database
	// error before the run fails: 0 means DefaultRetries, negative none.
	Retries int
	// LogCache is the memory, in bytes, for stored vehicle logs read
	// ahead to resolve shipments: 0 means DefaultLogCache, negative none,
	// more than MaxLogCache MaxLogCache.
	LogCache int64
	// HTTPClient fetches URL inputs; nil means one with timeouts
	// (NewHTTPClient).
	HTTPClient *http.Client
	// SourceTimeout is the longest wait for a URL input's response headers
	// and then for each next byte of its body: 0 means
	// DefaultSourceTimeout. A stalled server fails the run as transient.
	SourceTimeout time.Duration
	Log           logr.Logger
	// Progress, when set, is kept up to date for the caller to show.
	Progress *Progress
	// Metrics, when set, counts what the run commits.
	Metrics *Metrics
	// Failpoint, when set, is called at named points of the run so tests
	// can crash it there: "record-read", "batch-staged" (COPY done, not
	// committed), "rejects-written" (rejects written, not committed) and
	// "batch-committed".
	Failpoint func(name string)
}

func (o *Options) failpoint(name string) {
	if o.Failpoint != nil {
		o.Failpoint(name)
	}
}

// Validate checks the options as Run does, without running anything.
func (o Options) Validate() error { return o.normalize() }

func (o *Options) normalize() error {
	if o.RunID == "" {
		o.RunID = NewRunID(time.Now())
	}
	if strings.ContainsAny(o.RunID, `/\`) || o.RunID == "." || o.RunID == ".." || len(o.RunID) > 128 {
		return fmt.Errorf("run id %q: want at most 128 characters and no path separators", o.RunID)
	}
	if o.Group == "" {
		o.Group = o.RunID
	}
	if len(o.Group) > 128 {
		return fmt.Errorf("group %q: want at most 128 characters", o.Group)
	}
	if o.RejectsDir == "" {
		o.RejectsDir = DefaultRejectsDir
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.LogCache == 0 {
		o.LogCache = DefaultLogCache
	}
	if o.BatchSize < 1 || o.Workers < 1 {
		return errors.New("batch size and workers must be at least 1")
	}
	if o.Retries > MaxRetries {
		return fmt.Errorf("retries %d: at most %d", o.Retries, MaxRetries)
	}
	if o.SourceTimeout <= 0 {
		o.SourceTimeout = DefaultSourceTimeout
	}
	if o.HTTPClient == nil {
		o.HTTPClient = NewHTTPClient(o.SourceTimeout)
	}
	n := 0
	for ds, files := range o.Inputs {
		if datasets[ds] == nil {
			return fmt.Errorf("unknown dataset %q", ds)
		}
		n += len(files)
	}
	if n == 0 {
		return ErrNoInput
	}
	return nil
}

// checkInputsExist fails, naming the first local input that does not exist,
// unless missing inputs are allowed. URLs are found out when fetched.
func (o *Options) checkInputsExist() error {
	if o.AllowMissing {
		return nil
	}
	for _, ds := range LoadOrder {
		for _, loc := range o.Inputs[ds] {
			if isURL(loc) {
				continue
			}
			if _, err := os.Stat(loc); errors.Is(err, fs.ErrNotExist) {
				return &fileFailure{file: loc, err: fmt.Errorf("%s %w (nothing was loaded; --allow-missing skips missing inputs)", ds, ErrMissingInput)}
			}
		}
	}
	return nil
}

// NewRunID makes a run id: the UTC time and a random suffix.
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// Threshold is --max-rejects: a count, or a percentage of the records read so
// far (checked once 1,000 records were read). The zero value never trips.
type Threshold struct {
	Count     int64
	Percent   float64
	IsPercent bool
	set       bool
}

// minReadForPercent is how many records a run reads before a percentage
// threshold applies.
const minReadForPercent = 1000

// ParseThreshold reads "N" or "P%".
func ParseThreshold(s string) (Threshold, error) {
	if s == "" {
		return Threshold{}, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || v > 100 {
			return Threshold{}, fmt.Errorf("max rejects %q: want a count or a percentage from 0%% to 100%%", s)
		}
		return Threshold{Percent: v, IsPercent: true, set: true}, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return Threshold{}, fmt.Errorf("max rejects %q: want a count or a percentage like 5%%", s)
	}
	return Threshold{Count: v, set: true}, nil
}

func (t Threshold) String() string {
	switch {
	case !t.set:
		return "none"
	case t.IsPercent:
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	default:
		return strconv.FormatInt(t.Count, 10)
	}
}

func (t Threshold) exceeded(read, rejected int64) bool {
	switch {
	case !t.set:
		return false
	case t.IsPercent:
		return read >= minReadForPercent && float64(rejected)*100 > t.Percent*float64(read)
	default:
		return rejected > t.Count
	}
}

// ErrTooManyRejects is the failure of a run whose rejects passed --max-rejects.
var ErrTooManyRejects = errors.New("too many rejects")

// IsInputError reports whether a run failed because of its input: a file
// that is missing or cannot be read to its end, too many rejects, or every
// record of a dataset rejected. A URL input that could not be fetched for a
// reason that may pass (refused, reset, stalled, HTTP 5xx) is not one. Running it again
// on the same input fails the same way.
func IsInputError(err error) bool {
	if errors.Is(err, errSourceUnavailable) {
		return false
	}
	var ff *fileFailure
	return errors.Is(err, ErrTooManyRejects) || errors.Is(err, ErrNoInput) || errors.Is(err, ErrAllRejected) ||
		errors.As(err, &ff)
}
