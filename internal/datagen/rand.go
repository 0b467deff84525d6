package datagen

import "math/bits"

// rng is a splitmix64 stream. Every record draws from its own stream, keyed
// by (seed, purpose, record index), so any record's content — and whether it
// is faulty — can be recomputed in O(1) without generating what came before.
// That is what lets shipments know whether their log was loaded while the
// generator keeps constant memory.
type rng struct{ s uint64 }

// Purposes of streams; each must be distinct.
const (
	streamVehicle uint64 = iota + 1
	streamLog
	streamLogVehicle
	streamShipment
	streamFault
	streamCity
)

func newRNG(seed, purpose uint64, index int64) rng {
	return rng{s: mix(seed ^ mix(purpose*0x9e3779b97f4a7c15^uint64(index)))}
}

func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

// intn returns a uniform value in [0, n).
func (r *rng) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// cents returns a uniform amount in [lo, hi] with two decimals, as cents.
func (r *rng) cents(lo, hi int64) int64 { return lo*100 + r.intn((hi-lo)*100+1) }
