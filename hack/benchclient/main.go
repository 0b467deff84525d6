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
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
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

// kind says how a window was drawn; the whole-range and 90-day medians are
// compared.
type kind int

const (
	kindAny kind = iota
	kindWhole
	kindQuarter
)

// window is [start, end] as day offsets from the first day of the data.
type window struct {
	start, end int
	kind       kind
}

func days(from, to time.Time) int { return int(to.Sub(from).Hours()/24+0.5) + 1 }

// windowDrawer draws windows no earlier draw returned.
type windowDrawer struct {
	span int // days in the data range
	rng  *rand.Rand
	seen map[[2]int]bool
}

func (d *windowDrawer) draw(k kind) (window, error) {
	for range 10_000 {
		w := window{kind: k}
		switch k {
		case kindWhole:
			w.start = -d.rng.IntN(wholeSlack)
			w.end = d.span - 1 + d.rng.IntN(wholeSlack)
		case kindQuarter:
			w.start = d.rng.IntN(d.span - quarter + 1)
			w.end = w.start + quarter - 1
		default:
			length := int(math.Exp(d.rng.Float64() * math.Log(float64(d.span)+1)))
			length = min(max(length, 1), d.span)
			w.start = d.rng.IntN(d.span - length + 1)
			w.end = w.start + length - 1
		}
		if key := [2]int{w.start, w.end}; !d.seen[key] {
			d.seen[key] = true
			return w, nil
		}
	}
	return window{}, fmt.Errorf("no new window left of kind %d in %d days: ask for fewer requests", k, d.span)
}

// --- endpoints ------------------------------------------------------------------

// endpoint is one row of the table; query builds one request's path and
// query for a window (dated endpoints) or without one.
type endpoint struct {
	name  string
	dated bool
	query func(r *rand.Rand, dates string, vehicles []string) string
}

// The list endpoints' sort_by whitelists (docs/api.md#33-get-apishipmentsroutes, 3.6, 3.7, 3.8).
var (
	shipmentRoutesSort = []string{"origin", "destination", "total_trips", "avg_delivery_time", "min_delivery_time",
		"max_delivery_time", "total_cost", "avg_cost", "total_weight", "unique_vehicles", "cost_per_trip"}
	reliabilitySort = []string{"origin", "destination", "total_deliveries", "avg_delivery_time",
		"delivery_time_variation", "reliability_score", "on_time_delivery_rate"}
	costValueSort = []string{"origin", "destination", "total_shipments", "avg_shipment_weight", "avg_cost",
		"cost_per_kg", "value_score", "value_category"}
	optimizationSort = []string{"origin", "destination", "total_shipments", "avg_delivery_time", "avg_cost",
		"avg_weight", "total_cost", "total_weight", "cost_time_efficiency", "optimization_recommendation"}
)

// listParams draws a page as the reference client asks for one: mostly the
// first, ten rows, any column of the whitelist either way.
func listParams(r *rand.Rand, sortBy []string) string {
	page := 1
	if r.IntN(2) == 1 {
		page = 2 + r.IntN(19)
	}
	order := "desc"
	if r.IntN(2) == 1 {
		order = "asc"
	}
	return fmt.Sprintf("page=%d&page_size=10&sort_by=%s&sort_order=%s", page, sortBy[r.IntN(len(sortBy))], order)
}

func dated(name, path string, extra func(r *rand.Rand) string) endpoint {
	return endpoint{name: name, dated: true, query: func(r *rand.Rand, dates string, _ []string) string {
		q := path + "?" + dates
		if extra != nil {
			q += "&" + extra(r)
		}
		return q
	}}
}

func listOf(sortBy []string) func(r *rand.Rand) string {
	return func(r *rand.Rand) string { return listParams(r, sortBy) }
}

// endpoints lists every endpoint of docs/api.md but /api/system/status (the
// baseline), in its order.
var endpoints = []endpoint{
	dated("dashboard", "/api/dashboard", func(r *rand.Rand) string {
		return fmt.Sprintf("interval_type=%s&periods_back=%d", []string{"week", "month", "year"}[r.IntN(3)], 1+r.IntN(12))
	}),
	dated("shipments/analytics", "/api/shipments/analytics", nil),
	{name: "shipments/routes", query: func(r *rand.Rand, _ string, _ []string) string {
		return "/api/shipments/routes?" + listParams(r, shipmentRoutesSort)
	}},
	dated("vehicles/metrics", "/api/vehicles/metrics", nil),
	{name: "vehicles/{id}/details", dated: true, query: func(r *rand.Rand, dates string, vehicles []string) string {
		return "/api/vehicles/" + url.PathEscape(vehicles[r.IntN(len(vehicles))]) + "/details?" + dates
	}},
	dated("route/reliability", "/api/route/reliability", listOf(reliabilitySort)),
	dated("route/cost-value", "/api/route/cost-value", listOf(costValueSort)),
	dated("route/optimization", "/api/route/optimization", listOf(optimizationSort)),
	dated("route/top-performing", "/api/route/top-performing", func(r *rand.Rand) string {
		return "limit=" + strconv.Itoa(1+r.IntN(20))
	}),
	dated("costs/overview", "/api/costs/overview", nil),
}

// --- plans ----------------------------------------------------------------------

type request struct {
	path string
	kind kind
}

type plan struct {
	name  string
	dated bool
	reqs  []request
}

// kinds lists n window kinds in the configured shares, shuffled, so that an
// endpoint stopped early by the time bound keeps them in proportion.
func kinds(r *rand.Rand, n int, wholeShare, quarterShare float64) []kind {
	ks := make([]kind, n)
	nWhole := int(math.Round(float64(n) * wholeShare))
	nQuarter := min(int(math.Round(float64(n)*quarterShare)), n-nWhole)
	for i := range ks {
		switch {
		case i < nWhole:
			ks[i] = kindWhole
		case i < nWhole+nQuarter:
			ks[i] = kindQuarter
		}
	}
	r.Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
	return ks
}

// makePlans draws every request of the run from the seed: the same config
// gives the same URLs. No URL and no window repeats within the run.
func makePlans(cfg config) ([]plan, error) {
	r := rand.New(rand.NewPCG(cfg.seed, 14))
	d := &windowDrawer{span: days(cfg.from, cfg.to), rng: r, seen: map[[2]int]bool{}}
	seenURL := map[string]bool{}
	var plans []plan
	for _, ep := range endpoints {
		p := plan{name: ep.name, dated: ep.dated}
		for _, k := range kinds(r, cfg.count, cfg.wholeShare, cfg.qShr) {
			req, err := drawRequest(r, d, ep, k, cfg, seenURL)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ep.name, err)
			}
			p.reqs = append(p.reqs, req)
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func drawRequest(r *rand.Rand, d *windowDrawer, ep endpoint, k kind, cfg config, seenURL map[string]bool) (request, error) {
	for range 10_000 {
		req := request{kind: kindAny}
		dates := ""
		if ep.dated {
			w, err := d.draw(k)
			if err != nil {
				return req, err
			}
			req.kind = k
			dates = "start=" + cfg.from.AddDate(0, 0, w.start).Format(dateLayout) +
				"&end=" + cfg.from.AddDate(0, 0, w.end).Format(dateLayout)
		}
		req.path = ep.query(r, dates, cfg.vehicles)
		if !seenURL[req.path] {
			seenURL[req.path] = true
			return req, nil
		}
	}
	return request{}, errors.New("no new URL left: ask for fewer requests")
}

// --- requests -------------------------------------------------------------------

// client sends requests one after another on one kept-alive connection and
// counts the connections it opens.
type client struct {
	base     string
	hc       *http.Client
	newConns int
}

func newClient(base string, timeout time.Duration) *client {
	return &client{base: base, hc: &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     time.Hour,
			DisableCompression:  true,
		},
	}}
}

type failure struct {
	path   string
	status int
	detail string
}

// get requests path, reads the whole answer and returns how long that took
// from sending to the last byte; a failure if the status is not 200.
func (c *client) get(ctx context.Context, path string) (time.Duration, *failure) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			c.newConns++
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, &failure{path: path, detail: err.Error()}
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return time.Since(start), &failure{path: path, detail: err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		return time.Since(start), &failure{path: path, status: resp.StatusCode, detail: string(head)}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	if err != nil {
		return took, &failure{path: path, status: resp.StatusCode, detail: "read answer: " + err.Error()}
	}
	return took, nil
}

// result holds the latencies of one endpoint.
type result struct {
	name                 string
	dated                bool
	cold, whole, quarter []time.Duration
	warm                 []time.Duration
	failures             int
}

// measure runs the plans in order: each cold request followed by one
// baseline request, then the warm repeats of the endpoint's first URL.
func measure(ctx context.Context, c *client, plans []plan, cfg config, stderr io.Writer) ([]result, []time.Duration) {
	var (
		results  []result
		baseline []time.Duration
		shown    int
	)
	note := func(f *failure) {
		if shown < shownFailures {
			fmt.Fprintf(stderr, "benchclient: GET %s: status %d: %s\n", f.path, f.status, f.detail)
		}
		shown++
	}
	for _, p := range plans {
		res := result{name: p.name, dated: p.dated}
		start := time.Now()
		for i, req := range p.reqs {
			if time.Since(start) > cfg.maxDuration {
				fmt.Fprintf(stderr, "benchclient: %s: stopped after %d of %d requests (-max-seconds %.0f)\n",
					p.name, i, len(p.reqs), cfg.maxDuration.Seconds())
				break
			}
			took, f := c.get(ctx, req.path)
			if f != nil {
				res.failures++
				note(f)
			} else {
				res.cold = append(res.cold, took)
				switch req.kind {
				case kindWhole:
					res.whole = append(res.whole, took)
				case kindQuarter:
					res.quarter = append(res.quarter, took)
				}
			}
			took, f = c.get(ctx, statusPath)
			if f != nil {
				res.failures++
				note(f)
			} else {
				baseline = append(baseline, took)
			}
		}
		if cfg.warm > 0 && len(p.reqs) > 0 {
			path := p.reqs[0].path
			// Once unmeasured, in case the cache has let it go since.
			if _, f := c.get(ctx, path); f != nil {
				res.failures++
				note(f)
			}
			for range cfg.warm {
				took, f := c.get(ctx, path)
				if f != nil {
					res.failures++
					note(f)
					continue
				}
				res.warm = append(res.warm, took)
			}
		}
		results = append(results, res)
	}
	if shown > shownFailures {
		fmt.Fprintf(stderr, "benchclient: %d more failed requests not shown\n", shown-shownFailures)
	}
	return results, baseline
}

// --- figures --------------------------------------------------------------------

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of d, 0 if
// d is empty.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// ms is the p-th percentile of d in milliseconds, or "-" when d is empty.
func ms(d []time.Duration, p float64) string {
	if len(d) == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(percentile(d, p))/1e6, 'f', 3, 64)
}

// The columns of the table, in order.
var columns = []string{"endpoint", "count", "median_ms", "p99_ms", "whole_n", "whole_median_ms",
	"quarter_n", "quarter_median_ms", "warm_n", "warm_median_ms", "warm_p99_ms", "failures"}

func writeTable(w io.Writer, results []result, baseline []time.Duration, conns int) {
	fmt.Fprintln(w, strings.Join(columns, "\t"))
	for _, r := range results {
		whole, quarterN := "-", "-"
		if r.dated {
			whole, quarterN = strconv.Itoa(len(r.whole)), strconv.Itoa(len(r.quarter))
		}
		fmt.Fprintln(w, strings.Join([]string{r.name, strconv.Itoa(len(r.cold)), ms(r.cold, 50), ms(r.cold, 99),
			whole, ms(r.whole, 50), quarterN, ms(r.quarter, 50),
			strconv.Itoa(len(r.warm)), ms(r.warm, 50), ms(r.warm, 99), strconv.Itoa(r.failures)}, "\t"))
	}
	fmt.Fprintln(w, strings.Join([]string{"baseline", strconv.Itoa(len(baseline)), ms(baseline, 50), ms(baseline, 99),
		"-", "-", "-", "-", "-", "-", "-", "0"}, "\t"))
	fmt.Fprintf(w, "connections\t%d\n", conns)
}
