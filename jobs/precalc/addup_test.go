package precalc

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkAddUpMonth measures the rebuild's hot path: adding up a month of
// spilled logs and shipments (as at 10M shipments over five years: 83,000
// logs and 167,000 shipments, 300 cities, 5,000 vehicles) and encoding the
// rows. Its allocs/op, per month, show the path allocates nothing per
// record once its tables have grown: a few hundred a month, for the
// spill's files (measured: 677 a month, 865 ns a shipment).
func BenchmarkAddUpMonth(b *testing.B) {
	const logs, shipments, cities, vehicles = 83_000, 167_000, 300, 5_000
	r := newRawReader(b.TempDir())
	rng := rand.New(rand.NewPCG(1, 2))
	start := dayOf(2024, 3, 1)
	be := func(v uint64, n int) []byte {
		out := make([]byte, 8)
		binary.BigEndian.PutUint64(out, v)
		return out[8-n:]
	}
	logDays := make([]int32, logs)
	logVehicles := make([][]byte, logs)
	for i := range logs {
		logDays[i] = start + int32(rng.IntN(31))
		logVehicles[i] = fmt.Appendf(nil, "V-%04d", rng.IntN(vehicles))
		if err := r.log([][]byte{fmt.Appendf(nil, "L-%07d", i), logVehicles[i], be(uint64(logDays[i]), 4),
			be(math.Float64bits(rng.Float64()*500), 8), be(math.Float64bits(rng.Float64()*80), 8)}); err != nil {
			b.Fatal(err)
		}
	}
	for range shipments {
		l := rng.IntN(logs)
		if err := r.shipment([][]byte{fmt.Appendf(nil, "L-%07d", l), logVehicles[l], be(uint64(logDays[l]), 4),
			fmt.Appendf(nil, "City %d", rng.IntN(cities)), fmt.Appendf(nil, "City %d", rng.IntN(cities)),
			be(uint64(1+rng.IntN(72)), 4), be(math.Float64bits(10+rng.Float64()*990), 8),
			be(math.Float64bits(1+rng.Float64()*99), 8)}); err != nil {
			b.Fatal(err)
		}
	}
	r.joinVehicles()
	m := monthOf(start)
	logRecs, err := r.logs.read(m)
	if err != nil {
		b.Fatal(err)
	}
	shipmentRecs, err := r.shipments.read(m)
	if err != nil {
		b.Fatal(err)
	}
	out := newTables()
	for _, o := range out.byName() {
		go func() { _, _ = io.Copy(io.Discard, o.r) }()
	}
	bl := newBuilder(r, out, b.TempDir())
	b.ReportAllocs()
	for b.Loop() {
		if err := bl.month(m, logRecs, shipmentRecs); err != nil {
			b.Fatal(err)
		}
		bl.totals = bl.totals[:0]
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/shipments, "ns/shipment")
}

// orderBy orders by its keys, the first the most significant, as a stable
// sort comparing them in turn does; signed keeps int32 order.
func TestOrderBy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// The keys packed into one (a's range and b's in 16 bits), and sorted
	// one by one (b's range takes all 64).
	for _, wide := range []bool{false, true} {
		for _, n := range []int{0, 1, 5, 300, 20_000} {
			a, b := make([]int32, n), make([]uint64, n)
			for i := range n {
				a[i], b[i] = r.Int32N(50)-25, r.Uint64N(1000)
				if wide {
					b[i] = r.Uint64()
				}
			}
			got := orderBy(n, func(i int32) uint64 { return signed(a[i]) }, func(i int32) uint64 { return b[i] })
			want := make([]int32, n)
			for i := range want {
				want[i] = int32(i)
			}
			slices.SortStableFunc(want, func(x, y int32) int { return cmp.Or(cmp.Compare(a[x], a[y]), cmp.Compare(b[x], b[y])) })
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d, wide keys %v: order differs from a stable sort's", n, wide)
			}
		}
	}
}

// A merge of segments adds a vehicle's sums to its entry in a month's or a
// year's row, puts a vehicle the row lacks in name order (by byte), as the
// rebuild writes them, and keeps the first row's segment; so for an
// origin's routes.
func TestSumSegmentsAdd(t *testing.T) {
	stored := vehiclePeriodRow{grain: 1, period: 9000, segment: 3, ids: []string{"A", "C", "c"},
		sums: []vehicleSums{{trips: 1, mileage: 1.5}, {trips: 2, n: 3, cost: 4}, {dt: 7}}}
	delta := vehiclePeriodRow{grain: 1, period: 9000, segment: 9, ids: []string{"B", "C", "Z", "d"},
		sums: []vehicleSums{{trips: 5}, {trips: 1, fuel: 2, cost: 0.5}, {n: 1}, {mileage: 3}}}
	got := stored.add(&delta)
	want := vehiclePeriodRow{grain: 1, period: 9000, segment: 3, ids: []string{"A", "B", "C", "Z", "c", "d"},
		sums: []vehicleSums{{trips: 1, mileage: 1.5}, {trips: 5}, {trips: 3, n: 3, fuel: 2, cost: 4.5}, {n: 1},
			{dt: 7}, {mileage: 3}}}
	if got.key() != want.key() || got.segment != want.segment || !slices.Equal(got.ids, want.ids) || !slices.Equal(got.sums, want.sums) {
		t.Errorf("stored %+v plus %+v: %+v, want %+v", stored, delta, got, want)
	}
	if empty := (&vehiclePeriodRow{}).add(&vehiclePeriodRow{}); len(empty.ids) != 0 {
		t.Errorf("nothing added to nothing: %+v", empty)
	}

	routes := originRow{origin: "O", segment: 4, destinations: []string{"a", "c"},
		totals:   []routeTotal{{n: 2, cost: 3, weight: 4, dt: 10, minDT: 4, maxDT: 6}, {n: 1, dt: 1, minDT: 1, maxDT: 1}},
		vehicles: []int64{2, 1}}
	more := originRow{origin: "O", segment: 12, destinations: []string{"B", "a"},
		totals:   []routeTotal{{n: 1, dt: 9, minDT: 9, maxDT: 9}, {n: 1, cost: 1, weight: 1, dt: 8, minDT: 8, maxDT: 8}},
		vehicles: []int64{1, 0}}
	sum := routes.add(&more)
	wantRoutes := originRow{origin: "O", destinations: []string{"B", "a", "c"},
		totals: []routeTotal{{n: 1, dt: 9, minDT: 9, maxDT: 9}, {n: 3, cost: 4, weight: 5, dt: 18, minDT: 4, maxDT: 8},
			{n: 1, dt: 1, minDT: 1, maxDT: 1}},
		vehicles: []int64{1, 2, 1}}
	if sum.key() != "O" || sum.segment != 4 || !slices.Equal(sum.destinations, wantRoutes.destinations) ||
		!slices.Equal(sum.totals, wantRoutes.totals) || !slices.Equal(sum.vehicles, wantRoutes.vehicles) {
		t.Errorf("routes %+v plus %+v: %+v, want %+v", routes, more, sum, wantRoutes)
	}
}

// routeIDs finds every route it was given, and no other, while its cities
// grow past the dense table's and after.
func TestRouteIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ids routeIDs
	want := map[[2]uint32]uint32{}
	for _, cities := range []int{10, 300, denseCities, 3 * denseCities} {
		for range 5000 {
			c := [2]uint32{uint32(rng.IntN(cities)), uint32(rng.IntN(cities))}
			got, ok := ids.get(c)
			if w, known := want[c]; ok != known || got != w {
				t.Fatalf("%d cities: route %v is %d, %v; want %d, %v", cities, c, got, ok, w, known)
			}
			if !ok {
				want[c] = uint32(len(want))
				ids.set(c, want[c])
			}
		}
		if cities > denseCities && ids.sparse == nil {
			t.Errorf("%d cities kept in the dense table", cities)
		}
	}
	for c, w := range want {
		if got, ok := ids.get(c); !ok || got != w {
			t.Fatalf("route %v is %d, %v at the end; want %d", c, got, ok, w)
		}
	}
}
