// Command benchclient measures the answers `haul serve` computes rather than
// serves from its cache (the cold mode of hack/bench-api.sh): for every
// endpoint of docs/api.md, COUNT requests with distinct URLs, sent one after
// another on one kept-alive connection, each followed by a request to
// /api/system/status (one small database read: the baseline, measured in the
// same run and as often); then one URL of the endpoint repeated (warm: the
// server's cache).
//
// Windows run from 1 day to the whole data range, drawn from a seed: a share
// spans the whole range (starting up to a year before the data and ending up
// to a year after it, so that each is a window of its own), a share is 90 days
// inside the range, the rest have a length drawn log-uniformly from 1 day to
// the range. No two requests of the run use the same window, so neither the
// answer cache nor a cache of per-window intermediate results (the server
// keeps route lists per window) answers them; list parameters (page, sort_by,
// sort_order) and the dashboard's interval vary as well.
//
// It prints tab-separated rows for hack/bench-api.sh: a header, one row per
// endpoint, one for the baseline, and the number of connections opened.
// Failed requests (not 200) are counted there and the first few described on
// stderr. Each endpoint's cold requests stop after -max-seconds.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const (
	dateLayout = "2006-01-02"
	statusPath = "/api/system/status"
	// wholeSlack bounds how many days before and after the data a
	// whole-range window may reach.
	wholeSlack = 366
	// quarter is the length of the windows the whole-range ones are
	// compared with.
	quarter = 90
	// shownFailures is how many failed requests are described on stderr.
	shownFailures = 5
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchclient:", err)
		os.Exit(1)
	}
}

type config struct {
	base             string
	from, to         time.Time
	count, warm      int
	seed             uint64
	vehicles         []string
	maxDuration      time.Duration
	wholeShare, qShr float64
	timeout          time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var (
		cfg                        config
		from, to, vehiclesFile     string
		maxSeconds, timeoutSeconds float64
	)
	fs := flag.NewFlagSet("benchclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.base, "url", "", "the server, e.g. http://127.0.0.1:8000 (required)")
	fs.StringVar(&from, "from", "", "first day of the data, YYYY-MM-DD (required)")
	fs.StringVar(&to, "to", "", "last day of the data, YYYY-MM-DD (required)")
	fs.StringVar(&vehiclesFile, "vehicles", "", "file of vehicle ids, one a line, for /api/vehicles/{id}/details (required)")
	fs.IntVar(&cfg.count, "count", 200, "cold requests per endpoint")
	fs.IntVar(&cfg.warm, "warm", 50, "warm requests per endpoint (one URL repeated)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the windows and parameters")
	fs.Float64Var(&maxSeconds, "max-seconds", 120, "stop an endpoint's cold requests after this many seconds")
	fs.Float64Var(&timeoutSeconds, "timeout", 120, "seconds one request may take")
	fs.Float64Var(&cfg.wholeShare, "whole-share", 0.2, "share of windows spanning the whole data range")
	fs.Float64Var(&cfg.qShr, "quarter-share", 0.2, "share of 90-day windows")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.base == "" || from == "" || to == "" || vehiclesFile == "" {
		return cfg, errors.New("-url, -from, -to and -vehicles are required")
	}
	cfg.base = strings.TrimSuffix(cfg.base, "/")
	var err error
	if cfg.from, err = time.Parse(dateLayout, from); err != nil {
		return cfg, fmt.Errorf("-from %q: want YYYY-MM-DD", from)
	}
	if cfg.to, err = time.Parse(dateLayout, to); err != nil {
		return cfg, fmt.Errorf("-to %q: want YYYY-MM-DD", to)
	}
	if days(cfg.from, cfg.to) < quarter {
		return cfg, fmt.Errorf("the data range %s..%s is shorter than %d days", from, to, quarter)
	}
	if cfg.count < 1 || cfg.warm < 0 || maxSeconds <= 0 || timeoutSeconds <= 0 {
		return cfg, errors.New("-count, -max-seconds and -timeout must be positive, -warm not negative")
	}
	if cfg.wholeShare < 0 || cfg.qShr < 0 || cfg.wholeShare+cfg.qShr > 1 {
		return cfg, errors.New("-whole-share and -quarter-share must be shares adding up to at most 1")
	}
	cfg.maxDuration = time.Duration(maxSeconds * float64(time.Second))
	cfg.timeout = time.Duration(timeoutSeconds * float64(time.Second))
	if cfg.vehicles, err = readLines(vehiclesFile); err != nil {
		return cfg, err
	}
	if len(cfg.vehicles) == 0 {
		return cfg, fmt.Errorf("no vehicle ids in %s", vehiclesFile)
	}
	return cfg, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read vehicle ids: %w", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			lines = append(lines, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read vehicle ids from %s: %w", path, err)
	}
	return lines, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	plans, err := makePlans(cfg)
	if err != nil {
		return err
	}
	c := newClient(cfg.base, cfg.timeout)
	results, baseline := measure(ctx, c, plans, cfg, stderr)
	writeTable(stdout, results, baseline, c.newConns)
	return nil
}

// --- windows ------------------------------------------------------------------
