package precalc_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/testutil/pgtest"
	"github.com/haul-dev/haul/jobs/ingest"
	"github.com/haul-dev/haul/jobs/precalc"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// env is one test's database and folder.
type env struct {
	t    *testing.T
	url  string
	pool *pgxpool.Pool
	dir  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := dbtest.New(t)
	return &env{t: t, url: url, pool: dbtest.Pool(t, url), dir: t.TempDir()}
}

// generate writes a dataset with datagen into a fresh folder and returns it.
func (e *env) generate(name string, cfg datagen.Config) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, name)
	if _, err := datagen.Generate(context.Background(), dir, cfg); err != nil {
		e.t.Fatalf("generate %s: %v", name, err)
	}
	return dir
}

// load ingests the datasets datagen wrote into dir (those named, or all
// three) as run runID, and fails the test unless the run succeeds.
func (e *env) load(runID, dir string, datasets ...datagen.Dataset) *ingest.Report {
	e.t.Helper()
	if len(datasets) == 0 {
		datasets = datagen.Datasets
	}
	inputs := map[ingest.Dataset][]string{}
	for _, ds := range datasets {
		inputs[ds] = []string{filepath.Join(dir, string(ds)+".json")}
	}
	report, err := ingest.Run(context.Background(), e.pool, ingest.Options{
		RunID: runID, Inputs: inputs, RejectsDir: filepath.Join(e.dir, "rejects"), Log: logr.Discard(),
	})
	if err != nil {
		e.t.Fatalf("ingest %s: %v", runID, err)
	}
	return report
}

// refresh runs one refresh and fails the test if it fails.
func (e *env) refresh(full bool) precalc.Result {
	e.t.Helper()
	res, _ := e.refreshLogged(full)
	return res
}

// refreshLogged refreshes and returns what the refresh logged, a line per
// message, its steps' (V(1)) included; a rebuild's lanes log at once.
func (e *env) refreshLogged(full bool) (precalc.Result, []string) {
	e.t.Helper()
	var (
		mu    sync.Mutex
		lines []string
	)
	log := funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{Verbosity: 1})
	res, err := precalc.Refresh(context.Background(), e.pool, precalc.Options{Full: full, Log: log})
	if err != nil {
		e.t.Fatalf("refresh (full %v): %v", full, err)
	}
	return res, lines
}

func (e *env) count(sql string, args ...any) int64 {
	e.t.Helper()
	return pgtest.Scalar[int64](e.t, e.pool, sql, args...)
}

func day(s string) time.Time {
	t, err := time.Parse(datagen.DateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}
