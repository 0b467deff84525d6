package rollup

import (
	"math"
	"math/big"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
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
	// Per entry: its day and the running sums of its run up to and
	// including it.
	day dayColumn
	// Shipments and on-time shipments.
	counts            countPairs
	cost, weight, cpk floatSums
	// days tells the days on which a route has entries, for windows that
	// hold a few of its days.
	days routeDays
}

// Version is the data version the index was built from.
func (x *RouteIndex) Version() int64 { return x.version }

// Entries is the number of (route, delivery time, day) rows the index holds.
func (x *RouteIndex) Entries() int { return x.day.len() }

// Bytes is about the memory the index holds.
func (x *RouteIndex) Bytes() int64 {
	n := x.day.bytes() + x.counts.bytes() + x.cost.bytes() + x.weight.bytes() + x.cpk.bytes() +
		x.days.bytes() + int64(len(x.runDT)+len(x.firstEntry)+len(x.firstRun))*4 + int64(len(x.span))*8
	for _, r := range x.routes {
		n += int64(len(r.Origin)+len(r.Destination)) + 32
	}
	return n
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
func (x *RouteIndex) Routes(w Window) []Route { return x.RoutesInto(w, nil) }

// RoutesInto is Routes, in buf's array if it holds the list: a long
// window's list is tens of MB, which a caller may recycle.
func (x *RouteIndex) RoutesInto(w Window, buf []Route) []Route {
	from, to := epochDay(w.Start), epochDay(w.End)
	if to < from || x.Entries() == 0 {
		return []Route{}
	}
	// The routes that may have entries in the window: the list is made
	// once, at most their number long.
	var meet []int32
	for r := range x.routes {
		if x.meets(r, from, to) {
			meet = append(meet, int32(r))
		}
	}
	out := slices.Grow(buf[:0], len(meet))[:len(meet)]
	// A long list is added up in parts, one per processor: the routes'
	// sums are independent, and a request should not wait for one core.
	parts := 1
	if len(meet) >= routesPerPart {
		parts = min(runtime.GOMAXPROCS(0), len(meet)/routesPerPart)
	}
	n := make([]int, parts)
	var wg sync.WaitGroup
	for p := range parts {
		a, b := p*len(meet)/parts, (p+1)*len(meet)/parts
		wg.Go(func() { n[p] = x.addRoutes(out[a:b], meet[a:b], from, to) })
	}
	wg.Wait()
	// Each part's routes to the end of the ones before.
	end := 0
	for p := range parts {
		a := p * len(meet) / parts
		end += copy(out[end:], out[a:a+n[p]])
	}
	clear(out[end:])
	return out[:end]
}

// routesPerPart is the fewest routes worth a goroutine of their own.
const routesPerPart = 4096

// addRoutes sets out[0], out[1], ... to the window's figures of the routes
// meet that have shipments in it, in order, and returns their number.
func (x *RouteIndex) addRoutes(out []Route, meet []int32, from, to int32) int {
	var hist []dtCount
	var sq squares
	m := 0
	for _, r := range meet {
		sp := x.span[r]
		whole := from <= sp[0] && sp[1] <= to
		route := &out[m]
		*route = Route{RouteKey: x.routes[r]}
		hist = hist[:0]
		for k := x.firstRun[r]; k < x.firstRun[r+1]; k++ {
			lo, hi := x.firstEntry[k], x.firstEntry[k+1]
			// Entries lo..hi-1 of the run; the window holds entries i..j-1.
			i, j := lo, hi
			if !whole {
				if i, j = x.day.window(lo, hi, from, to); i == j {
					continue
				}
			}
			n, onTime := x.counts.sum(lo, i, j)
			cost := x.cost.sum(lo, i, j)
			dt := int64(x.runDT[k])
			route.Shipments += n
			route.OnTimeDay += onTime
			route.SumCost += cost
			route.SumWeight += x.weight.sum(lo, i, j)
			route.SumCPK += x.cpk.sum(lo, i, j)
			// Every shipment of the run has this delivery time.
			route.SumCPT += cost / float64(dt)
			hist = append(hist, dtCount{dt, n})
		}
		if route.Shipments == 0 {
			continue
		}
		finishRoute(route, hist, &sq)
		m++
	}
	if m < len(out) {
		out[m] = Route{}
	}
	return m
}

// meets reports whether route r may have entries in from..to: false only
// if it surely has none.
func (x *RouteIndex) meets(r int, from, to int32) bool {
	sp := x.span[r]
	switch {
	case sp[1] < from || sp[0] > to:
		return false
	case from <= sp[0] && sp[1] <= to:
		return true
	}
	return x.days.any(r, sp, from, to)
}

// routeDays tells, for each route whose days fit in a few bits an entry, on
// which days of its span it has entries: a short window skips the routes
// without, rather than searching each of their runs.
type routeDays struct {
	// bits[at[r]:] has a bit per day of route r's span, from its first
	// day; at[r] is -1 for a route without (one whose span is long for
	// its entries).
	at   []int32
	bits []uint64
}

// routeDaysBits bounds the bits kept per route, in bits per entry.
const (
	routeDaysBits    = 32
	routeDaysMinBits = 2048
)

func newRouteDays(x *RouteIndex) routeDays {
	d := routeDays{at: make([]int32, len(x.routes))}
	var words int64
	for r, sp := range x.span {
		entries := int64(x.firstEntry[x.firstRun[r+1]] - x.firstEntry[x.firstRun[r]])
		if span := int64(sp[1]) - int64(sp[0]) + 1; entries == 0 || span > max(routeDaysBits*entries, routeDaysMinBits) ||
			words+span/64+1 > math.MaxInt32 {
			d.at[r] = -1
			continue
		}
		d.at[r] = int32(words)
		words += (int64(sp[1])-int64(sp[0]))/64 + 1
	}
	d.bits = make([]uint64, words)
	for r, sp := range x.span {
		if d.at[r] < 0 {
			continue
		}
		for k := x.firstRun[r]; k < x.firstRun[r+1]; k++ {
			for e := x.firstEntry[k]; e < x.firstEntry[k+1]; e++ {
				b := int64(x.day.at(e)) - int64(sp[0])
				d.bits[int64(d.at[r])+b/64] |= 1 << (b % 64)
			}
		}
	}
	return d
}

func (d *routeDays) bytes() int64 { return int64(len(d.at))*4 + int64(len(d.bits))*8 }

// any reports whether route r, whose span sp overlaps from..to, may have
// an entry in from..to: false only if it surely has none.
func (d *routeDays) any(r int, sp [2]int32, from, to int32) bool {
	at := int64(d.at[r])
	if at < 0 {
		return true
	}
	// Bits a..b of the route's, a ≤ b as the window overlaps the span.
	a, b := int64(max(from, sp[0]))-int64(sp[0]), int64(min(to, sp[1]))-int64(sp[0])
	for w := a / 64; w <= b/64; w++ {
		word := d.bits[at+w]
		if w == a/64 {
			word &^= 1<<(a%64) - 1
		}
		if w == b/64 && b%64 < 63 {
			word &= 1<<(b%64+1) - 1
		}
		if word != 0 {
			return true
		}
	}
	return false
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
