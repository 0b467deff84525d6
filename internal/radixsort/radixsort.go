// Package radixsort sorts 64-bit keys by least significant digit first: a
// fixed number of passes over the keys whatever their order or repeats,
// where a comparison sort spends log n comparisons a key.
package radixsort

import "slices"

// digitBits is the digit sorted by in each pass: its counts (six passes of
// 2,048) stay in the CPU's caches.
const (
	digitBits = 11
	digitMask = 1<<digitBits - 1
	passes    = (64 + digitBits - 1) / digitBits
)

// small is the length below which the passes cost more than a comparison
// sort.
const small = 256

// Sorter keeps the scratch space of its sorts for the next; the zero value
// is ready. It is not safe for concurrent use.
type Sorter struct {
	keys   []uint64
	vals   []int32
	counts [passes][1 << digitBits]int
}

// Uint64s sorts keys ascending.
func (s *Sorter) Uint64s(keys []uint64) {
	if len(keys) < small {
		slices.Sort(keys)
		return
	}
	s.keys = grow(s.keys, len(keys))
	counts := s.count(keys)
	src, dst := keys, s.keys
	for d := range passes {
		shift := digitBits * d
		if !moves(&counts[d], src, shift) {
			continue
		}
		at := offsets(&counts[d])
		for _, k := range src {
			x := (k >> shift) & digitMask
			dst[at[x]] = k
			at[x]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// ByKey sorts keys ascending and moves vals[i] with keys[i]; equal keys
// keep their order.
func (s *Sorter) ByKey(keys []uint64, vals []int32) {
	if len(vals) != len(keys) {
		panic("radixsort: keys and values differ in length")
	}
	if len(keys) < small {
		insertionByKey(keys, vals)
		return
	}
	s.keys, s.vals = grow(s.keys, len(keys)), grow(s.vals, len(vals))
	counts := s.count(keys)
	srcK, dstK, srcV, dstV := keys, s.keys, vals, s.vals
	for d := range passes {
		shift := digitBits * d
		if !moves(&counts[d], srcK, shift) {
			continue
		}
		at := offsets(&counts[d])
		for i, k := range srcK {
			x := (k >> shift) & digitMask
			dstK[at[x]], dstV[at[x]] = k, srcV[i]
			at[x]++
		}
		srcK, dstK, srcV, dstV = dstK, srcK, dstV, srcV
	}
	if &srcK[0] != &keys[0] {
		copy(keys, srcK)
		copy(vals, srcV)
	}
}

// count counts how many keys have each value of each digit.
func (s *Sorter) count(keys []uint64) *[passes][1 << digitBits]int {
	c := &s.counts
	clear(c[:])
	for _, k := range keys {
		for d := range passes {
			c[d][(k>>(digitBits*d))&digitMask]++
		}
	}
	return c
}

// moves reports whether the pass on this digit would move a key: not when
// every key has the same value there.
func moves(c *[1 << digitBits]int, keys []uint64, shift int) bool {
	return c[(keys[0]>>shift)&digitMask] != len(keys)
}

// offsets turns a digit's counts into where its values' keys start.
func offsets(c *[1 << digitBits]int) *[1 << digitBits]int {
	at := 0
	for i, n := range c {
		c[i] = at
		at += n
	}
	return c
}

func insertionByKey(keys []uint64, vals []int32) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
			vals[j], vals[j-1] = vals[j-1], vals[j]
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
