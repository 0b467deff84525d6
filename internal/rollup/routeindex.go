package rollup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/haul-dev/haul/internal/db"
)

// RouteIndex answers ReadRoutes for any window of one data version from
// memory, at a cost that follows the number of routes, not the window's
// length: the route day rows (route, day, delivery time) are kept in runs,
// one per route and delivery time, sorted by day, with running sums, so a
// window's sums over a run are a difference of two running sums found by
// binary search. Built once per version (LoadRouteIndex); read-only after.
type RouteIndex struct {
	version int64
	routes  []RouteKey // ordered by origin, destination
	// firstRun[r] .. firstRun[r+1] are route r's runs, by delivery time.
	firstRun []int32
	// span[r] is route r's first and last day: a window covering it takes
	// each run's last running sums without a search.
	span  [][2]int32
	runDT []int32
	// firstEntry[k] .. firstEntry[k+1] are run k's entries, by day.
	firstEntry []int32
	// Per entry: its day (days since 1970-01-01) and the running sums of
	// its run up to and including it.
	day                      []int32
	cumN, cumOnTime          []int64
	cumCost, cumWeight, cumK []float64

	// The entries by day, for short windows, which hold fewer entries than
	// a search of every run costs: byDay[dayFirst[d] .. dayFirst[d+1]] are
	// the entries of days[d]; runRoute[k] is run k's route.
	days, dayFirst, byDay []int32
	runRoute              []int32
}

// Version is the data version the index was built from.
func (x *RouteIndex) Version() int64 { return x.version }

// Entries is the number of (route, delivery time, day) rows the index holds.
func (x *RouteIndex) Entries() int { return len(x.day) }

// Bytes is about the memory the index holds.
func (x *RouteIndex) Bytes() int64 {
	n := int64(len(x.day))*(4+8+8+8+8+8+4) + int64(len(x.runDT))*12 + int64(len(x.firstRun))*12 + int64(len(x.days))*8
	for _, r := range x.routes {
		n += int64(len(r.Origin)+len(r.Destination)) + 32
	}
	return n
}

// indexRow is a route day row as read, before it takes its place in a run.
type indexRow struct {
	route, dt, day int32
	n, onTime      int64
	cost, weight   float64
	cpk            float64
}

// LoadRouteIndex reads every route day row of the version that q's snapshot
// sees (q is a Begin transaction) and arranges them into a RouteIndex.
func LoadRouteIndex(ctx context.Context, q Querier) (*RouteIndex, error) {
	version, err := ReadVersion(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `
SELECT origin, destination, delivery_time, period, shipments, sum_cost, sum_weight, sum_cpk, on_time_day
FROM agg_routes WHERE grain = $1`, db.GrainDay)
	if err != nil {
		return nil, fmt.Errorf("read route days: %w", err)
	}
	defer rows.Close()
	ids := map[string]map[string]int32{}
	var keys []RouteKey
	var read []indexRow
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 9 || len(v[2]) != 4 || len(v[3]) != 4 || len(v[4]) != 8 || len(v[8]) != 8 {
			return nil, errors.New("read route days: unexpected row encoding")
		}
		dests, ok := ids[string(v[0])]
		if !ok {
			dests = map[string]int32{}
			ids[string(v[0])] = dests
		}
		id, ok := dests[string(v[1])]
		if !ok {
			id = int32(len(keys))
			dests[string(v[1])] = id
			keys = append(keys, RouteKey{Origin: string(v[0]), Destination: string(v[1])})
		}
		read = append(read, indexRow{
			route: id, dt: int32(binary.BigEndian.Uint32(v[2])),
			// A binary date is days since 2000-01-01.
			day: int32(binary.BigEndian.Uint32(v[3])) + pgEpochDay,
			n:   int64(binary.BigEndian.Uint64(v[4])), cost: float8(v[5]), weight: float8(v[6]), cpk: float8(v[7]),
			onTime: int64(binary.BigEndian.Uint64(v[8])),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read route days: %w", err)
	}
	return buildRouteIndex(version, keys, read), nil
}

// pgEpochDay is PostgreSQL's date epoch, 2000-01-01, in days since 1970.
const pgEpochDay = 10957

// buildRouteIndex arranges rows (of routes keys, in any order) into runs.
func buildRouteIndex(version int64, keys []RouteKey, rows []indexRow) *RouteIndex {
	// Routes in name order, so that Routes returns them sorted.
	order := make([]int32, len(keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return compareKeys(keys[a], keys[b]) })
	rank := make([]int32, len(keys))
	for r, id := range order {
		rank[id] = int32(r)
	}
	for i := range rows {
		rows[i].route = rank[rows[i].route]
	}
	slices.SortFunc(rows, func(a, b indexRow) int {
		if a.route != b.route {
			return int(a.route - b.route)
		}
		if a.dt != b.dt {
			if a.dt < b.dt {
				return -1
			}
			return 1
		}
		return int(a.day - b.day)
	})

	x := &RouteIndex{
		version: version, routes: make([]RouteKey, len(keys)),
		firstRun: make([]int32, len(keys)+1), span: make([][2]int32, len(keys)),
		day: make([]int32, len(rows)), cumN: make([]int64, len(rows)), cumOnTime: make([]int64, len(rows)),
		cumCost: make([]float64, len(rows)), cumWeight: make([]float64, len(rows)), cumK: make([]float64, len(rows)),
	}
	for r, id := range order {
		x.routes[r] = keys[id]
		// Empty until a row widens it: a route without rows is skipped.
		x.span[r] = [2]int32{math.MaxInt32, math.MinInt32}
	}
	next := int32(0) // the first route whose runs have not started
	for i, row := range rows {
		newRoute := i == 0 || row.route != rows[i-1].route
		if newRoute {
			for ; next <= row.route; next++ {
				x.firstRun[next] = int32(len(x.runDT))
			}
		}
		if newRoute || row.dt != rows[i-1].dt {
			x.runDT = append(x.runDT, row.dt)
			x.firstEntry = append(x.firstEntry, int32(i))
		} else {
			x.cumN[i], x.cumOnTime[i] = x.cumN[i-1], x.cumOnTime[i-1]
			x.cumCost[i], x.cumWeight[i], x.cumK[i] = x.cumCost[i-1], x.cumWeight[i-1], x.cumK[i-1]
		}
		sp := &x.span[row.route]
		sp[0], sp[1] = min(sp[0], row.day), max(sp[1], row.day)
		x.day[i] = row.day
		x.cumN[i] += row.n
		x.cumOnTime[i] += row.onTime
		x.cumCost[i] += row.cost
		x.cumWeight[i] += row.weight
		x.cumK[i] += row.cpk
	}
	for ; next <= int32(len(keys)); next++ {
		x.firstRun[next] = int32(len(x.runDT))
	}
	x.firstEntry = append(x.firstEntry, int32(len(rows)))
	x.runRoute = make([]int32, len(x.runDT))
	for r := range x.routes {
		for k := x.firstRun[r]; k < x.firstRun[r+1]; k++ {
			x.runRoute[k] = int32(r)
		}
	}
	x.indexDays()
	return x
}

// indexDays orders the entries by day, with a counting sort.
func (x *RouteIndex) indexDays() {
	if len(x.day) == 0 {
		return
	}
	lo, hi := slices.Min(x.day), slices.Max(x.day)
	counts := make([]int32, int64(hi)-int64(lo)+2)
	for _, d := range x.day {
		counts[d-lo+1]++
	}
	for d := lo; d <= hi; d++ {
		if counts[d-lo+1] > 0 {
			x.days = append(x.days, d)
		}
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	x.dayFirst = make([]int32, 0, len(x.days)+1)
	for _, d := range x.days {
		x.dayFirst = append(x.dayFirst, counts[d-lo])
	}
	x.dayFirst = append(x.dayFirst, int32(len(x.day)))
	x.byDay = make([]int32, len(x.day))
	for e, d := range x.day {
		x.byDay[counts[d-lo]] = int32(e)
		counts[d-lo]++
	}
}

func compareKeys(a, b RouteKey) int {
	if c := strings.Compare(a.Origin, b.Origin); c != 0 {
		return c
	}
	return strings.Compare(a.Destination, b.Destination)
}

// epochDay is t's day number, t at UTC midnight.
func epochDay(t time.Time) int32 { return int32(t.Unix() / 86400) }

// Routes returns what ReadRoutes returns for w: every route with a shipment
// in the window, ordered by origin and destination.
func (x *RouteIndex) Routes(w Window) []Route {
	from, to := epochDay(w.Start), epochDay(w.End)
	if to < from || len(x.day) == 0 {
		return []Route{}
	}
	// A short window's entries cost less to add up than searching every
	// run: each costs a search for its run, each run two searches of its
	// days.
	entries := x.dayFirst[searchDays(x.days, to+1)] - x.dayFirst[searchDays(x.days, from)]
	if runs := len(x.runDT); runs > 0 && int64(entries)*int64(bits.Len(uint(runs))) <
		2*int64(runs)*int64(bits.Len(uint(len(x.day)/runs))) {
		return x.scanRoutes(x.byDay[x.dayFirst[searchDays(x.days, from)]:x.dayFirst[searchDays(x.days, to+1)]])
	}
	return x.searchRoutes(from, to)
}

// searchRoutes adds each run's window up by searching its days.
func (x *RouteIndex) searchRoutes(from, to int32) []Route {
	out := make([]Route, 0, len(x.routes)/4)
	var hist []dtCount
	var sq squares
	for r := range x.routes {
		sp := x.span[r]
		if sp[1] < from || sp[0] > to {
			continue
		}
		whole := from <= sp[0] && sp[1] <= to
		route := Route{RouteKey: x.routes[r]}
		hist = hist[:0]
		for k := x.firstRun[r]; k < x.firstRun[r+1]; k++ {
			lo, hi := x.firstEntry[k], x.firstEntry[k+1]
			// Entries lo..hi-1 of the run; the window holds entries i..j-1.
			i, j := lo, hi
			if !whole {
				i = lo + int32(searchDays(x.day[lo:hi], from))
				j = lo + int32(searchDays(x.day[lo:hi], to+1))
				if i == j {
					continue
				}
			}
			n, onTime := x.cumN[j-1], x.cumOnTime[j-1]
			cost, weight, cpk := x.cumCost[j-1], x.cumWeight[j-1], x.cumK[j-1]
			if i > lo {
				n -= x.cumN[i-1]
				onTime -= x.cumOnTime[i-1]
				cost -= x.cumCost[i-1]
				weight -= x.cumWeight[i-1]
				cpk -= x.cumK[i-1]
			}
			dt := int64(x.runDT[k])
			route.Shipments += n
			route.OnTimeDay += onTime
			route.SumCost += cost
			route.SumWeight += weight
			route.SumCPK += cpk
			// Every shipment of the run has this delivery time.
			route.SumCPT += cost / float64(dt)
			hist = append(hist, dtCount{dt, n})
		}
		if route.Shipments == 0 {
			continue
		}
		finishRoute(&route, hist, &sq)
		out = append(out, route)
	}
	return out
}

// scanRoutes adds the given entries up per run, then per route.
func (x *RouteIndex) scanRoutes(entries []int32) []Route {
	type runSum struct {
		run               int32
		n, onTime         int64
		cost, weight, cpk float64
	}
	at := make(map[int32]int, len(entries))
	var sums []runSum
	for _, e := range entries {
		k := int32(sort.Search(len(x.firstEntry)-1, func(k int) bool { return x.firstEntry[k+1] > e }))
		i, ok := at[k]
		if !ok {
			i = len(sums)
			at[k] = i
			sums = append(sums, runSum{run: k})
		}
		s := &sums[i]
		n, onTime, cost, weight, cpk := x.cumN[e], x.cumOnTime[e], x.cumCost[e], x.cumWeight[e], x.cumK[e]
		if e > x.firstEntry[k] {
			n -= x.cumN[e-1]
			onTime -= x.cumOnTime[e-1]
			cost -= x.cumCost[e-1]
			weight -= x.cumWeight[e-1]
			cpk -= x.cumK[e-1]
		}
		s.n += n
		s.onTime += onTime
		s.cost += cost
		s.weight += weight
		s.cpk += cpk
	}
	// Runs are in route order, and a route's by delivery time.
	slices.SortFunc(sums, func(a, b runSum) int { return int(a.run - b.run) })
	var out []Route
	var hist []dtCount
	var sq squares
	for i := 0; i < len(sums); {
		r := x.runRoute[sums[i].run]
		route := Route{RouteKey: x.routes[r]}
		hist = hist[:0]
		for ; i < len(sums) && x.runRoute[sums[i].run] == r; i++ {
			s, dt := sums[i], int64(x.runDT[sums[i].run])
			route.Shipments += s.n
			route.OnTimeDay += s.onTime
			route.SumCost += s.cost
			route.SumWeight += s.weight
			route.SumCPK += s.cpk
			route.SumCPT += s.cost / float64(dt)
			hist = append(hist, dtCount{dt, s.n})
		}
		finishRoute(&route, hist, &sq)
		out = append(out, route)
	}
	if out == nil {
		out = []Route{}
	}
	return out
}

// searchDays is the first position in days (ascending) whose day is at or
// after d.
func searchDays(days []int32, d int32) int {
	lo, hi := 0, len(days)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if days[m] < d {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// finishRoute sets Σt, Σt², min, max and the window on-time count
// (delivery_time ≤ mean + 1, compared exactly as dt·n ≤ Σt + n) from the
// route's delivery time histogram, in exact integers; Σt² comes from sq.
func finishRoute(r *Route, hist []dtCount, sq *squares) {
	var sumDT int64
	var hi, lo uint64 // Σ n·dt²
	for i, h := range hist {
		sumDT += h.dt * h.n
		// dt² < 2^62 (dt is an int32), so n·dt² < 2^125.
		phi, plo := bits.Mul64(uint64(h.dt*h.dt), uint64(h.n))
		var carry uint64
		lo, carry = bits.Add64(lo, plo, 0)
		hi, _ = bits.Add64(hi, phi, carry)
		if i == 0 || h.dt < r.MinDT {
			r.MinDT = h.dt
		}
		if i == 0 || h.dt > r.MaxDT {
			r.MaxDT = h.dt
		}
	}
	r.SumDT = sumDT
	r.SumDT2 = sq.next(hi, lo)
	limit := uint64(sumDT + r.Shipments)
	for _, h := range hist {
		phi, plo := bits.Mul64(uint64(h.dt), uint64(r.Shipments))
		if phi == 0 && plo <= limit {
			r.OnTimeWindow += h.n
		}
	}
}

// squares hands out the exact Σt² of many routes from a few allocations:
// a route list of tens of thousands of routes would otherwise allocate two
// objects per route.
type squares struct {
	ints  []big.Int
	words []big.Word
}

const squaresChunk = 1024

// next returns hi·2^64 + lo as a big.Int.
func (s *squares) next(hi, lo uint64) *big.Int {
	if bits.UintSize != 64 {
		v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		return v.Or(v, new(big.Int).SetUint64(lo))
	}
	if len(s.ints) == 0 {
		s.ints = make([]big.Int, squaresChunk)
		s.words = make([]big.Word, 2*squaresChunk)
	}
	v, w := &s.ints[0], s.words[:2:2]
	s.ints, s.words = s.ints[1:], s.words[2:]
	w[0], w[1] = big.Word(lo), big.Word(hi)
	return v.SetBits(w)
}
