package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/apiserver"
	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/localpg"
	"github.com/haul-dev/haul/internal/demo"
	"github.com/haul-dev/haul/jobs/ingest"
	"github.com/haul-dev/haul/jobs/ingest/progressview"
	"github.com/haul-dev/haul/jobs/precalc"
)

// demoDatabase is the database the demo creates on its throwaway server.
const demoDatabase = "haul"

func newDemoCmd(logs *logSettings) *cobra.Command {
	var (
		urlFlag, out, addr string
		keep               bool
		shipments          int64
		faults             float64
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Haul end to end on generated data, on a throwaway PostgreSQL unless --database-url is given",
		Long: `Start a throwaway PostgreSQL from the installed server binaries (unless
--database-url or $HAUL_DATABASE_URL names one), create Haul's tables, generate
a realistic dataset, load it with haul ingest, and report each step. Everything
it made is removed when it ends, unless --keep: then the database folder and
the generated files stay, and it says how to start that PostgreSQL again;
--out puts the generated files in a folder of your choice.

A listener refreshes the aggregates when the load completes, as haul listen
does; the demo prints all-time totals read from them, then serves the API (as
haul serve does) until Ctrl-C, with a few URLs to try.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			url := urlFlag
			if url == "" {
				url = os.Getenv(db.EnvDatabaseURL)
			}
			if url == "" {
				start := time.Now()
				cluster, err := localpg.Start(ctx, localpg.Options{})
				if err != nil {
					return fmt.Errorf("start throwaway PostgreSQL: %w", err)
				}
				defer func() {
					if keep {
						stopAndKeep(w, cmd.ErrOrStderr(), cluster)
						return
					}
					if err := cluster.Stop(); err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "haul: stop throwaway PostgreSQL:", err)
					}
					fmt.Fprintln(w, "stopped the throwaway PostgreSQL and removed its data")
				}()
				if err := createDatabase(ctx, cluster.URL("postgres"), demoDatabase); err != nil {
					return err
				}
				url = cluster.URL(demoDatabase)
				fmt.Fprintf(w, "started a throwaway PostgreSQL in %s (%s): %s\n", cluster.Dir, time.Since(start).Round(time.Millisecond), url)
			}

			applied, err := db.Migrate(ctx, url)
			if err != nil {
				return err
			}
			version, _, err := db.SchemaVersion(ctx, url)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "migrated: schema at version %d (%d migrations applied)\n", version, len(applied))

			dir := out
			if dir == "" {
				if dir, err = os.MkdirTemp("", "haul-demo-data-*"); err != nil {
					return fmt.Errorf("create data folder: %w", err)
				}
				if keep {
					defer fmt.Fprintf(w, "kept the generated data and rejects in %s\n", dir)
				} else {
					defer os.RemoveAll(dir)
				}
			}
			start := time.Now()
			key, err := datagen.Generate(ctx, dir, datagen.Config{Shipments: shipments, Seed: datagen.DefaultSeed, FaultRate: faults})
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "generated:")
			printAnswerKey(w, dir, key, time.Since(start))

			pool, err := openPool(ctx, url, ingest.DefaultWorkers+2)
			if err != nil {
				return err
			}
			defer pool.Close()
			inputs := map[ingest.Dataset][]string{}
			for _, ds := range ingest.LoadOrder {
				inputs[ds] = []string{filepath.Join(dir, key.Datasets[ds].File)}
			}
			// Log lines go through the progress view, above its bar.
			view, err := progressview.New(progressview.ModeAuto, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx = logr.NewContext(ctx, logs.logger(view.Writer()))
			// As on a laptop install: a listener refreshes the aggregates
			// when the load announces its completion.
			refreshed := newRefreshLog()
			listenCtx, stopListening := context.WithCancel(ctx)
			listening := make(chan error, 1)
			go func() {
				listening <- precalc.Listen(listenCtx, pool, precalc.ListenOptions{
					Log:       logr.FromContextOrDiscard(ctx).WithName("listen"),
					OnRefresh: refreshed.record,
				})
			}()
			defer func() {
				stopListening()
				if err := <-listening; err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "haul: listener:", err)
				}
			}()

			progress := &ingest.Progress{}
			view.Start(progress, logr.FromContextOrDiscard(ctx))
			report, err := ingest.Run(ctx, pool, ingest.Options{
				Inputs: inputs, RejectsDir: filepath.Join(dir, "rejects"), Progress: progress,
				Log: logr.FromContextOrDiscard(ctx),
			})
			view.Stop()
			if report != nil {
				fmt.Fprintln(w, "loaded:")
				if err := report.WriteText(w); err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			res, err := refreshed.waitFor(ctx, report.RunID, 10*time.Minute)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "aggregates: version %d, %d days refreshed in %s after the load completed\n",
				res.Version, res.Days, res.Duration().Round(time.Millisecond))
			summary, err := demo.ReadSummary(ctx, pool)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, summary)
			if addr == "" {
				return nil
			}
			return serveDemo(ctx, w, pool, addr, version)
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	cmd.Flags().Int64Var(&shipments, "shipments", 1_000_000, "shipments to generate")
	cmd.Flags().Float64Var(&faults, "faults", 0.001, "share of generated records that are bad or odd (see haul gen)")
	cmd.Flags().StringVar(&out, "out", "", "keep the generated files in this folder (default: a temporary one, removed)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the throwaway database and the generated files when the demo ends")
	cmd.Flags().StringVar(&addr, "addr", apiserver.DefaultAddr, `serve the API here until Ctrl-C ("" to stop after loading)`)
	return cmd
}

// serveDemo serves the API until ctx is done, with URLs to try.
func serveDemo(ctx context.Context, w io.Writer, pool *pgxpool.Pool, addr string, schema int64) error {
	srv, err := apiserver.New(apiserver.Config{Pool: pool, Log: logr.FromContextOrDiscard(ctx).WithName("api"),
		SchemaVersion: schema})
	if err != nil {
		return err
	}
	l, err := listen(addr)
	if err != nil {
		return err
	}
	host := l.Addr().String()
	if tcp, ok := l.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	base := "http://" + host
	fmt.Fprintf(w, "serving the API on %s; try:\n", base)
	for _, path := range []string{
		"/docs",
		"/api/system/status",
		"/api/dashboard?start=2025-12-01&end=2025-12-31&interval_type=month",
		"/api/shipments/analytics?start=2023-01-01&end=2025-12-31",
		"/api/route/reliability?start=2025-01-01&end=2025-12-31&page_size=5",
		"/api/v1/runs",
	} {
		fmt.Fprintf(w, "  curl '%s%s'\n", base, path)
	}
	fmt.Fprintln(w, "Ctrl-C stops the demo")
	return serveUntilDone(ctx, srv, l)
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to throwaway PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// refreshLog keeps, per run, the first refresh that included it. Recording
// never blocks, so a burst of refreshes cannot stall the listener (nor,
// through it, Ctrl-C), whoever waits or not.
type refreshLog struct {
	mu    sync.Mutex
	byRun map[string]precalc.Result
	// news holds a token when something was recorded since the last wait.
	news chan struct{}
}

func newRefreshLog() *refreshLog {
	return &refreshLog{byRun: map[string]precalc.Result{}, news: make(chan struct{}, 1)}
}

// record is the listener's OnRefresh.
func (l *refreshLog) record(res precalc.Result) {
	l.mu.Lock()
	for _, run := range res.Runs {
		if _, ok := l.byRun[run]; !ok {
			l.byRun[run] = res
		}
	}
	l.mu.Unlock()
	select {
	case l.news <- struct{}{}:
	default:
	}
}

func (l *refreshLog) lookup(runID string) (precalc.Result, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res, ok := l.byRun[runID]
	return res, ok
}

// waitFor waits until a refresh includes the run.
func (l *refreshLog) waitFor(ctx context.Context, runID string, timeout time.Duration) (precalc.Result, error) {
	deadline := time.After(timeout)
	for {
		if res, ok := l.lookup(runID); ok {
			return res, nil
		}
		select {
		case <-l.news:
		case <-deadline:
			return precalc.Result{}, fmt.Errorf("no aggregate refresh for run %s after %s", runID, timeout)
		case <-ctx.Done():
			return precalc.Result{}, ctx.Err()
		}
	}
}

// stopAndKeep stops the throwaway server and keeps its folder, with the
// command that starts it again.
func stopAndKeep(w, errw io.Writer, cluster *localpg.Cluster) {
	dest := filepath.Join(filepath.Dir(cluster.Dir), "haul-demo-db-"+time.Now().UTC().Format("20060102T150405Z"))
	if err := cluster.StopAndKeep(dest); err != nil {
		fmt.Fprintln(errw, "haul: keep throwaway PostgreSQL:", err)
		return
	}
	data := filepath.Join(dest, "data")
	start := fmt.Sprintf("pg_ctl -D %s -o '-p %d -k %s' -l %s start",
		data, cluster.Port, dest, filepath.Join(data, "restart.log"))
	if os.Geteuid() == 0 {
		start = fmt.Sprintf("su postgres -c %q", start)
	}
	fmt.Fprintf(w, "stopped the throwaway PostgreSQL and kept it in %s; start it again with:\n  %s\n"+
		"(pg_ctl is in the PostgreSQL server's bin folder) and use --database-url %s\n", dest, start, cluster.URL(demoDatabase))
}
