package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"
)

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
