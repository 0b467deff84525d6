package precalc

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
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
