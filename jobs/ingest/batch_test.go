package ingest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSortHashes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := map[string][]uint64{"empty": nil, "one": {7}, "small": {3, 1, 2, 1}}
	for _, n := range []int{255, 256, 10_000} {
		random := make([]uint64, n)
		for i := range random {
			random[i] = r.Uint64()
		}
		cases[fmt.Sprint("random/", n)] = random
		cases[fmt.Sprint("equal/", n)] = slices.Repeat([]uint64{0xdeadbeef}, n)
		// Bytes that vary in some positions only: passes get skipped.
		sparse := make([]uint64, n)
		for i := range sparse {
			sparse[i] = uint64(r.IntN(4))<<40 | uint64(r.IntN(3))
		}
		cases[fmt.Sprint("sparse/", n)] = sparse
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			want := slices.Sorted(slices.Values(in))
			spare := make([]uint64, 3) // too short: replaced
			got, rest := sortHashes(slices.Clone(in), spare)
			if !slices.Equal(got, want) {
				t.Fatalf("sortHashes of %d hashes is not sorted or lost some", len(in))
			}
			if len(in) >= 256 && len(rest) != len(in) {
				t.Errorf("spare holds %d, want %d to reuse", len(rest), len(in))
			}
		})
	}
}

func BenchmarkSortHashes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]uint64, DefaultBatchSize)
	for i := range in {
		in[i] = r.Uint64()
	}
	h, spare := make([]uint64, len(in)), []uint64(nil)
	b.Run("radix", func(b *testing.B) {
		for b.Loop() {
			copy(h, in)
			h, spare = sortHashes(h, spare)
		}
	})
	b.Run("slices.Sort", func(b *testing.B) {
		for b.Loop() {
			copy(h, in)
			slices.Sort(h)
		}
	})
}
