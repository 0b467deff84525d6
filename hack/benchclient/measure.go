package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
