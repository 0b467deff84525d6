package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/apiserver"
	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/jobs/precalc"
)

// envAPIKeys holds API keys, comma-separated, when --api-keys-file is not given.
const envAPIKeys = "HAUL_API_KEYS"

func newServeCmd() *cobra.Command {
	var (
		urlFlag, addr, keysFile string
		origins                 []string
		refresh                 bool
		answerCache, index      bool
		conns                   int
		wait                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the REST API (docs/api.md) from the precomputed aggregates",
		Long: `Serve the REST API until SIGTERM, then finish the requests in flight.
Answers come from the precomputed aggregates only; the server only reads. With
--refresh (off by default) it also keeps the aggregates up to date, as haul
listen does: at start it refreshes them if loaded data is missing from them,
and again after every completed ingest run. If the server or the refresh
fails, the command stops at once with the error (exit 1). API keys (off by default) come from --api-keys-file or
$` + envAPIKeys + ` (comma-separated); then every /api route needs one, as
"Authorization: Bearer KEY" or "X-API-Key: KEY".`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, err := databaseURL(urlFlag)
			if err != nil {
				return err
			}
			keys, err := apiKeys(keysFile)
			if err != nil {
				return err
			}
			if refresh && conns < precalc.RebuildConns {
				return usagef("--db-conns %d: refreshing the aggregates (--refresh) takes %d connections", conns, precalc.RebuildConns)
			}
			ctx := cmd.Context()
			log := logr.FromContextOrDiscard(ctx)
			pool, err := openWaiting(ctx, url, conns, wait, log)
			if err != nil {
				return err
			}
			defer pool.Close()
			_, latest, err := db.SchemaVersion(ctx, url)
			if err != nil {
				return err
			}
			// The refresh's series are served with the API's, on its /metrics.
			reg := prometheus.NewRegistry()
			var refreshMetrics *precalc.Metrics
			if refresh {
				refreshMetrics = precalc.NewMetrics(reg, pool, log)
			}
			srv, err := apiserver.New(apiserver.Config{Pool: pool, Log: log, CORSOrigins: origins,
				APIKeys: keys, SchemaVersion: latest, Registry: reg, NoAnswerCache: !answerCache, NoIndex: !index})
			if err != nil {
				return err
			}
			l, err := listen(addr)
			if err != nil {
				return err
			}
			if !refresh {
				return serveUntilDone(ctx, srv, l)
			}
			return untilFirstFails(ctx,
				func(ctx context.Context) error { return serveUntilDone(ctx, srv, l) },
				func(ctx context.Context) error {
					return precalc.Listen(ctx, pool, precalc.ListenOptions{Log: log.WithName("listen"), Metrics: refreshMetrics})
				})
		},
	}
	addDatabaseFlag(cmd, &urlFlag)
	addWaitFlag(cmd, &wait)
	fs := cmd.Flags()
	fs.StringVar(&addr, "addr", apiserver.DefaultAddr, "address to listen on")
	fs.StringSliceVar(&origins, "cors-origins", apiserver.DefaultCORSOrigins, "origins allowed to read answers in a browser (comma-separated; * for any)")
	fs.StringVar(&keysFile, "api-keys-file", "", "file of API keys, one per line; requires a key on every /api route")
	fs.BoolVar(&refresh, "refresh", false, "also keep the aggregates up to date in this process (as haul listen does)")
	fs.IntVar(&conns, "db-conns", 16, "most database connections")
	fs.BoolVar(&answerCache, "answer-cache", true, "keep recent answers of the served data version in memory (false computes every answer, to measure what one costs)")
	fs.BoolVar(&index, "index", true, "build an index of routes and vehicles in memory per data version, so that any window costs milliseconds (false reads them from SQL)")
	return cmd
}

// listen opens the server's address: one that is taken or not ours to use
// is a failure of the command (exit 1), one that is malformed a usage error.
func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("--addr %s: %w", addr, err)
	case err != nil:
		return nil, usagef("--addr %s: %v", addr, err)
	}
	return l, nil
}

// untilFirstFails runs the parts together until ctx is done or one of them
// ends: then the others are stopped, and the first error is returned.
func untilFirstFails(ctx context.Context, parts ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, part := range parts {
		g.Go(func() error {
			err := part(ctx)
			if err == nil && ctx.Err() == nil {
				err = errors.New("stopped unexpectedly")
			}
			return err
		})
	}
	return g.Wait()
}

func serveUntilDone(ctx context.Context, srv *apiserver.Server, l net.Listener) error {
	err := srv.Serve(ctx, l)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func apiKeys(file string) ([]string, error) {
	if file != "" {
		keys, err := apiserver.ReadAPIKeys(file)
		if err != nil {
			return nil, usageError{err}
		}
		return keys, nil
	}
	var keys []string
	for _, k := range strings.Split(os.Getenv(envAPIKeys), ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 && os.Getenv(envAPIKeys) != "" {
		return nil, usageError{fmt.Errorf("$%s holds no key", envAPIKeys)}
	}
	return keys, nil
}
