package precalc

import (
	"fmt"
	"testing"
)

// The filter never forgets a pair, takes few others for one it may have,
// and comes back from its stored form the same.
func TestPairFilter(t *testing.T) {
	const n = 200_000
	f := newPairFilter(n)
	pair := func(i int) uint64 {
		return pairHash(routeHash(fmt.Sprintf("City %d", i%997), fmt.Sprintf("City %d", i%991)), vehicleHash(fmt.Sprintf("VH-%05d", i)))
	}
	for i := range n {
		f.add(pair(i))
	}
	g, err := unmarshalPairFilter(f.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if g.pairs != n {
		t.Errorf("%d pairs after the round trip, want %d", g.pairs, n)
	}
	for i := range n {
		if !g.mayHave(pair(i)) {
			t.Fatalf("pair %d was added but the filter does not have it", i)
		}
	}
	maybe := 0
	for i := n; i < 2*n; i++ {
		if g.mayHave(pair(i)) {
			maybe++
		}
	}
	// 12 bits a pair, 7 in a block of 512: about 0.5% expected.
	if rate := float64(maybe) / n; rate > 0.01 {
		t.Errorf("%.2f%% of pairs never added may be there, want at most 1%%", 100*rate)
	}
	// The order of the names matters: a route is not its reverse.
	if routeHash("A", "B") == routeHash("B", "A") || routeHash("AB", "") == routeHash("A", "B") {
		t.Error("route hashes collide on reversed or shifted names")
	}
	for _, b := range [][]byte{nil, make([]byte, 8), make([]byte, 8+63), make([]byte, 8+65)} {
		if _, err := unmarshalPairFilter(b); err == nil {
			t.Errorf("a filter of %d bytes was accepted", len(b))
		}
	}
}

// BenchmarkPairFilterAdd measures what the rebuild spends on a pair: at
// 10M shipments the filter holds 9.5M pairs in 15 MB, beyond the CPU's
// caches.
func BenchmarkPairFilterAdd(b *testing.B) {
	f := newPairFilter(9_500_000)
	route := routeHash("Springfield", "Shelbyville")
	for i := range b.N {
		f.add(pairHash(route+uint64(i/100), vehicleHash("VH-00042")+uint64(i)))
	}
}
