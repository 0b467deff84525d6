package radixsort

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// inputs are keys of the shapes the passes treat differently: random,
// all equal (every pass skipped), varying in a few digits only, and
// already sorted or reversed, each short and long.
func inputs() map[string][]uint64 {
	r := rand.New(rand.NewPCG(1, 2))
	in := map[string][]uint64{"empty": nil, "one": {7}}
	for _, n := range []int{small - 1, small, 10_000} {
		random, sparse := make([]uint64, n), make([]uint64, n)
		for i := range random {
			random[i] = r.Uint64()
			sparse[i] = uint64(r.IntN(4))<<40 | uint64(r.IntN(3))
		}
		in[fmt.Sprint("random/", n)] = random
		in[fmt.Sprint("sparse/", n)] = sparse
		in[fmt.Sprint("equal/", n)] = slices.Repeat([]uint64{0xdeadbeef}, n)
		sorted := slices.Sorted(slices.Values(random))
		in[fmt.Sprint("sorted/", n)] = sorted
		reversed := slices.Clone(sorted)
		slices.Reverse(reversed)
		in[fmt.Sprint("reversed/", n)] = reversed
	}
	return in
}

func TestUint64s(t *testing.T) {
	var s Sorter
	for name, in := range inputs() {
		got := slices.Clone(in)
		s.Uint64s(got)
		if want := slices.Sorted(slices.Values(in)); !slices.Equal(got, want) {
			t.Errorf("%s: Uint64s did not sort the %d keys, or lost some", name, len(in))
		}
	}
}

func TestByKeyIsStable(t *testing.T) {
	var s Sorter
	for name, in := range inputs() {
		keys := slices.Clone(in)
		vals := make([]int32, len(keys))
		for i := range vals {
			vals[i] = int32(i)
		}
		s.ByKey(keys, vals)
		type pair struct {
			k uint64
			v int32
		}
		want := make([]pair, len(in))
		for i, k := range in {
			want[i] = pair{k, int32(i)}
		}
		slices.SortStableFunc(want, func(a, b pair) int { return cmp.Compare(a.k, b.k) })
		for i := range want {
			if keys[i] != want[i].k || vals[i] != want[i].v {
				t.Errorf("%s: entry %d is (%d, %d), want (%d, %d)", name, i, keys[i], vals[i], want[i].k, want[i].v)
				break
			}
		}
	}
}

func BenchmarkSort(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]uint64, 10_000)
	for i := range in {
		in[i] = r.Uint64()
	}
	keys := make([]uint64, len(in))
	vals := make([]int32, len(in))
	var s Sorter
	b.Run("Uint64s", func(b *testing.B) {
		for b.Loop() {
			copy(keys, in)
			s.Uint64s(keys)
		}
	})
	b.Run("slices.Sort", func(b *testing.B) {
		for b.Loop() {
			copy(keys, in)
			slices.Sort(keys)
		}
	})
	b.Run("ByKey", func(b *testing.B) {
		for b.Loop() {
			copy(keys, in)
			s.ByKey(keys, vals)
		}
	})
}
