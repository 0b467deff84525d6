package rollup

import (
	"math"
	"slices"
)

// The columns of the in-memory indexes (RouteIndex, VehicleIndex): one value
// per entry, entries grouped in runs (a route's delivery time, a vehicle)
// sorted by day. A figure's column holds its running sums within each run,
// so a window's sum over a run is the difference of two of them. Each column
// takes the narrowest type that holds its values exactly, checked as it is
// built, and widens itself when a value does not fit: the index of 10M
// shipments is about half the size it would be in int64 and float64.

// dayColumn holds each entry's day (days since 1970-01-01): as uint16 days
// after base while every day is within 65,535 days of it, else as int32.
type dayColumn struct {
	base   int32
	narrow []uint16
	wide   []int32
}

// newDayColumn makes a column of n days, all within lo..hi.
func newDayColumn(n int, lo, hi int32) dayColumn {
	if int64(hi)-int64(lo) <= math.MaxUint16 {
		return dayColumn{base: lo, narrow: make([]uint16, n)}
	}
	return dayColumn{wide: make([]int32, n)}
}

func (c *dayColumn) len() int { return max(len(c.narrow), len(c.wide)) }

func (c *dayColumn) bytes() int64 { return int64(len(c.narrow))*2 + int64(len(c.wide))*4 }

// set sets entry i's day d, which must be within the bounds given to
// newDayColumn.
func (c *dayColumn) set(i int, d int32) {
	if c.narrow != nil {
		c.narrow[i] = uint16(d - c.base)
		return
	}
	c.wide[i] = d
}

func (c *dayColumn) at(i int32) int32 {
	if c.narrow != nil {
		return c.base + int32(c.narrow[i])
	}
	return c.wide[i]
}

// window returns the entries of lo..hi-1 (days ascending) in from..to: i..j-1.
func (c *dayColumn) window(lo, hi, from, to int32) (i, j int32) {
	if c.narrow == nil {
		i, j = windowSorted(c.wide[lo:hi], from, to)
		return lo + i, lo + j
	}
	// Days relative to base, clamped to what a uint16 holds: 0 and 65535
	// compare as the days beyond them would.
	f, t := int64(from)-int64(c.base), int64(to)-int64(c.base)
	switch {
	case t < 0:
		return lo, lo
	case f > math.MaxUint16:
		return hi, hi
	}
	i, j = windowSorted(c.narrow[lo:hi], uint16(max(f, 0)), uint16(min(t, math.MaxUint16)))
	return lo + i, lo + j
}

// windowSorted returns the positions in s (ascending) of the values in
// from..to: i..j-1.
func windowSorted[T uint16 | int32](s []T, from, to T) (i, j int32) {
	if len(s) <= 16 {
		// Most runs: counting costs no dependent loads, and one pass
		// serves both ends.
		for _, x := range s {
			if x < from {
				i++
			}
			if x <= to {
				j++
			}
		}
		return i, max(i, j)
	}
	i = int32(searchSorted(s, from))
	return i, i + int32(searchAfter(s[i:], to))
}

// searchAfter is the first position in s (ascending) whose value is after
// v.
func searchAfter[T uint16 | int32](s []T, v T) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// searchSorted is the first position in s (ascending) whose value is at or
// after v. Branch-free: runs are short, and a mispredicted branch costs
// more than a step.
func searchSorted[T uint16 | int32](s []T, v T) int {
	n := len(s)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		if s[base+half] < v {
			base += half
		}
		n -= half
	}
	if s[base] < v {
		base++
	}
	return base
}

// intSums holds a count's running sums: as uint32 while every run's total
// fits, else as int64.
type intSums struct {
	narrow []uint32
	wide   []int64
}

func newIntSums(n int) intSums { return intSums{narrow: make([]uint32, n)} }

func (s *intSums) bytes() int64 { return int64(len(s.narrow))*4 + int64(len(s.wide))*8 }

// set sets entry i's own value, before cumulate.
func (s *intSums) set(i int, v int64) {
	if s.narrow != nil {
		if v >= 0 && v <= math.MaxUint32 {
			s.narrow[i] = uint32(v)
			return
		}
		s.widen()
	}
	s.wide[i] = v
}

func (s *intSums) widen() {
	s.wide = make([]int64, len(s.narrow))
	for i, v := range s.narrow {
		s.wide[i] = int64(v)
	}
	s.narrow = nil
}

// cumulate turns the entries' own values into running sums within each
// run: first[k] .. first[k+1] are run k's entries.
func (s *intSums) cumulate(first []int32) {
	if s.narrow != nil && !fitsUint32(s.narrow, first) {
		s.widen()
	}
	if s.narrow != nil {
		runningSums(s.narrow, first)
		return
	}
	runningSums(s.wide, first)
}

// sum adds up entries i..j-1 (i < j) of the run that starts at entry lo.
func (s *intSums) sum(lo, i, j int32) int64 {
	if s.narrow != nil {
		return int64(runSum(s.narrow, lo, i, j))
	}
	return runSum(s.wide, lo, i, j)
}

// fixedScale is the unit of floatSums' fixed columns: cents, for money,
// kilometres, litres and kilograms recorded with at most two decimals.
const fixedScale = 100

// floatSums holds a float figure's running sums: as whole hundredths in a
// uint32 while every value is one (up to the rounding of the float sums it
// came from) and every run's total fits, else as float64. A fixed column's
// window sums are exact decimal sums, rounded once: at least as close to
// the sums of the shipments' values as the float64 sums are.
type floatSums struct {
	fixed []uint32
	raw   []float64
}

// newFloatSums makes a column of n entries, fixed unless rawOnly.
func newFloatSums(n int, rawOnly bool) floatSums {
	if rawOnly {
		return floatSums{raw: make([]float64, n)}
	}
	return floatSums{fixed: make([]uint32, n)}
}

func (s *floatSums) bytes() int64 { return int64(len(s.fixed))*4 + int64(len(s.raw))*8 }

// set sets entry i's own value v, a float sum of n values, before cumulate.
func (s *floatSums) set(i int, v float64, n int64) {
	if s.fixed != nil {
		if c, ok := toFixed(v, n); ok {
			s.fixed[i] = c
			return
		}
		s.toRaw()
	}
	s.raw[i] = v
}

// toFixed returns v in hundredths if it is a whole number of them: v is the
// float sum of n values of whole hundredths, so it may be off their exact
// sum by what n float additions round, an ulp of v each at most.
func toFixed(v float64, n int64) (uint32, bool) {
	x := v * fixedScale
	c := math.Round(x)
	if !(c >= 0 && c <= math.MaxUint32) || math.Abs(x-c) > float64(max(n, 1)+1)*0x1p-52*x {
		return 0, false
	}
	return uint32(c), true
}

// toRaw turns the column into float64s; called before cumulate, when its
// entries hold their own values.
func (s *floatSums) toRaw() {
	s.raw = make([]float64, len(s.fixed))
	for i, c := range s.fixed {
		s.raw[i] = float64(c) / fixedScale
	}
	s.fixed = nil
}

// cumulate turns the entries' own values into running sums within each
// run, as intSums.cumulate.
func (s *floatSums) cumulate(first []int32) {
	if s.fixed != nil && !fitsUint32(s.fixed, first) {
		s.toRaw()
	}
	if s.fixed != nil {
		runningSums(s.fixed, first)
		return
	}
	runningSums(s.raw, first)
}

// sum adds up entries i..j-1 (i < j) of the run that starts at entry lo.
func (s *floatSums) sum(lo, i, j int32) float64 {
	if s.fixed != nil {
		return float64(runSum(s.fixed, lo, i, j)) / fixedScale
	}
	return runSum(s.raw, lo, i, j)
}

// fitsUint32 reports whether every run's total of s fits in a uint32.
func fitsUint32(s []uint32, first []int32) bool {
	for k := 0; k+1 < len(first); k++ {
		var t uint64
		for _, v := range s[first[k]:first[k+1]] {
			t += uint64(v)
		}
		if t > math.MaxUint32 {
			return false
		}
	}
	return true
}

// runSum adds up entries i..j-1 (i < j) of running sums s within the run
// that starts at entry lo.
func runSum[T uint32 | int64 | float64](s []T, lo, i, j int32) T {
	v := s[j-1]
	if i > lo {
		v -= s[i-1]
	}
	return v
}

func runningSums[T uint32 | int64 | float64](s []T, first []int32) {
	for k := 0; k+1 < len(first); k++ {
		for i := first[k] + 1; i < first[k+1]; i++ {
			s[i] += s[i-1]
		}
	}
}

// permute reorders s[lo:lo+len(perm)] so that its i-th value is the one that
// was at lo+perm[i]; tmp is scratch.
func permute[T any](s []T, lo int, perm []int32, tmp *[]T) {
	if s == nil {
		return
	}
	*tmp = append((*tmp)[:0], s[lo:lo+len(perm)]...)
	for i, p := range perm {
		s[lo+i] = (*tmp)[p]
	}
}

// dayOrder returns the order of entries lo..hi-1 by day (stable), or nil if
// they are in order already; perm is scratch.
func (c *dayColumn) dayOrder(lo, hi int32, perm []int32) []int32 {
	sorted := true
	for i := lo + 1; i < hi; i++ {
		if c.at(i) < c.at(i-1) {
			sorted = false
			break
		}
	}
	if sorted {
		return nil
	}
	perm = perm[:0]
	for i := range hi - lo {
		perm = append(perm, i)
	}
	slices.SortStableFunc(perm, func(a, b int32) int {
		da, db := c.at(lo+a), c.at(lo+b)
		switch {
		case da < db:
			return -1
		case da > db:
			return 1
		}
		return 0
	})
	return perm
}

// countPairs holds two counts' running sums (a route's shipments and its
// on-time ones, a vehicle's trips and shipments): packed 16 bits each in a
// uint32 while every run's totals are below 2^16, else as two intSums.
// Both halves only grow within a run, so packed sums subtract without a
// borrow from one half to the other.
type countPairs struct {
	packed []uint32
	a, b   intSums
}

func newCountPairs(n int) countPairs { return countPairs{packed: make([]uint32, n)} }

func (s *countPairs) bytes() int64 { return int64(len(s.packed))*4 + s.a.bytes() + s.b.bytes() }

// set sets entry i's own values, before cumulate.
func (s *countPairs) set(i int, a, b int64) {
	if s.packed != nil {
		if a >= 0 && a <= math.MaxUint16 && b >= 0 && b <= math.MaxUint16 {
			s.packed[i] = uint32(a)<<16 | uint32(b)
			return
		}
		s.unpack()
	}
	s.a.set(i, a)
	s.b.set(i, b)
}

func (s *countPairs) unpack() {
	s.a, s.b = newIntSums(len(s.packed)), newIntSums(len(s.packed))
	for i, v := range s.packed {
		s.a.narrow[i], s.b.narrow[i] = v>>16, v&math.MaxUint16
	}
	s.packed = nil
}

// cumulate turns the entries' own values into running sums within each
// run, as intSums.cumulate.
func (s *countPairs) cumulate(first []int32) {
	if s.packed != nil {
		for k := 0; k+1 < len(first); k++ {
			var a, b uint32
			for _, v := range s.packed[first[k]:first[k+1]] {
				a, b = a+v>>16, b+v&math.MaxUint16
			}
			if a > math.MaxUint16 || b > math.MaxUint16 {
				s.unpack()
				break
			}
		}
	}
	if s.packed != nil {
		runningSums(s.packed, first)
		return
	}
	s.a.cumulate(first)
	s.b.cumulate(first)
}

// sum adds up entries i..j-1 (i < j) of the run that starts at entry lo.
func (s *countPairs) sum(lo, i, j int32) (a, b int64) {
	if s.packed != nil {
		v := s.packed[j-1]
		if i > lo {
			v -= s.packed[i-1]
		}
		return int64(v >> 16), int64(v & math.MaxUint16)
	}
	return s.a.sum(lo, i, j), s.b.sum(lo, i, j)
}
