package precalc

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
)

// A route's distinct vehicles (agg_route_totals.unique_vehicles) grow by
// the vehicles that carry it for the first time. Looking each new pair of
// a route and a vehicle up in the route's rows of agg_route_vehicles cost
// about 15 µs, most of it comparing the vehicle with each id in the rows'
// arrays: 1.5 s of a refresh of 100k shipments at 10M, where nine pairs in
// ten turned out new. pairFilter is a Bloom filter of every pair the rollups
// hold, kept beside them (state.go): a pair it does not have is new for
// sure, and only the others are looked up, so the count stays exact. A refresh without one (after migration 00013, until the next
// rebuild) looks every pair up.
type pairFilter struct {
	pairs int64    // pairs added, counting repeats
	words []uint64 // blocks of pairBlockWords words
}

const (
	// pairFilterBits is how many bits a pair the rebuild makes the filter
	// for: about 0.5% of pairs not in it are taken for maybe-in, and
	// looked up; refreshes add pairs and raise that slowly.
	pairFilterBits = 12
	// pairProbes is how many bits of its block a pair sets.
	pairProbes = 7
	// A pair's bits lie in one block of 512 bits: a cache line.
	pairBlockWords = 8
)

func newPairFilter(pairs int) *pairFilter {
	blocks := max(1, (pairs*pairFilterBits+511)/512)
	return &pairFilter{words: make([]uint64, blocks*pairBlockWords)}
}

// routeHash and vehicleHash hash the names; pairHash combines them, so the
// rebuild hashes each name once. Names cannot hold a NUL.
func routeHash(origin, destination string) uint64 {
	var d xxhash.Digest
	_, _ = d.WriteString(origin)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(destination)
	return d.Sum64()
}

func vehicleHash(id string) uint64 { return xxhash.Sum64String(id) }

func pairHash(route, vehicle uint64) uint64 {
	return mix64(route ^ bits.RotateLeft64(vehicle*0x9e3779b97f4a7c15, 32))
}

// mix64 is MurmurHash3's finalizer.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// block is the pair's block, chosen by h's high bits, and the bits it sets
// there, from another mix of h.
func (f *pairFilter) block(h uint64) ([]uint64, uint64) {
	b, _ := bits.Mul64(h, uint64(len(f.words)/pairBlockWords))
	return f.words[b*pairBlockWords : (b+1)*pairBlockWords], mix64(h ^ 0x5bd1e9955bd1e995)
}

func (f *pairFilter) add(h uint64) {
	w, g := f.block(h)
	for i := range pairProbes {
		bit := g >> (9 * i) & 511
		w[bit>>6] |= 1 << (bit & 63)
	}
	f.pairs++
}

// mayHave is false when the pair was never added.
func (f *pairFilter) mayHave(h uint64) bool {
	w, g := f.block(h)
	for i := range pairProbes {
		bit := g >> (9 * i) & 511
		if w[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}

// marshal encodes the pairs added, then the words, little-endian.
func (f *pairFilter) marshal() []byte {
	b := make([]byte, 0, 8+len(f.words)*8)
	b = binary.LittleEndian.AppendUint64(b, uint64(f.pairs))
	for _, w := range f.words {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

func unmarshalPairFilter(b []byte) (*pairFilter, error) {
	if len(b) < 8 || len(b[8:]) == 0 || len(b[8:])%(pairBlockWords*8) != 0 {
		return nil, fmt.Errorf("route vehicle filter of %d bytes, want 8 and a multiple of %d", len(b), pairBlockWords*8)
	}
	f := &pairFilter{pairs: int64(binary.LittleEndian.Uint64(b)), words: make([]uint64, len(b[8:])/8)}
	for i := range f.words {
		f.words[i] = binary.LittleEndian.Uint64(b[8+8*i:])
	}
	return f, nil
}

// readPairFilter returns the filter of the current version, or nil when
// there is none.
func readPairFilter(ctx context.Context, tx pgx.Tx) (*pairFilter, error) {
	b, err := readState(ctx, tx, stateRouteVehicleFilter)
	if err != nil || b == nil {
		return nil, err
	}
	return unmarshalPairFilter(b)
}

func writePairFilter(ctx context.Context, tx pgx.Tx, f *pairFilter) error {
	return writeState(ctx, tx, stateRouteVehicleFilter, f.marshal())
}

// new_route_vehicles counts, per route, the vehicles that carry it for the
// first time (routes without any are left out). The pairs looked up are
// read in key order, the index's (by byte, migration 00014), so that the
// lookups walk it forward; LIMIT keeps them a nested loop: planned as an
// anti join, a few thousand pairs were hashed against every stored row
// instead.
const (
	newRouteVehiclesSQL = `CREATE TEMP TABLE new_route_vehicles (origin text COLLATE "C", destination text COLLATE "C", vehicles bigint)
ON COMMIT DROP`
	unstoredPairsSQL = `
SELECT s.origin, s.destination
FROM (SELECT * FROM unnest($1::text[] COLLATE "C", $2::text[] COLLATE "C", $3::text[] COLLATE "C")
      AS s(origin, destination, vehicle_id) ORDER BY 1, 2, 3) s
LEFT JOIN LATERAL (SELECT true AS stored FROM agg_route_vehicles r
                   WHERE r.origin = s.origin AND r.destination = s.destination
                     AND s.vehicle_id = ANY (r.vehicle_ids)
                   LIMIT 1) r ON true
WHERE r.stored IS NULL`
)

// routeVehicleSteps are a refresh's steps for the pairs of a route and a
// vehicle, those of the new rows' groups (delta): stage, before the route
// totals, and write, once the version is bumped.
type routeVehicleSteps struct {
	delta  *deltaRows
	filter *pairFilter
}

// stage counts, per route, the vehicles that carry it for the first time
// (new_route_vehicles), and adds the new pairs to the filter.
func (s *routeVehicleSteps) stage(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	f, err := readPairFilter(ctx, tx)
	if err != nil {
		return err
	}
	s.filter = f
	d := s.delta
	type route struct{ origin, destination string }
	vehicles := map[route]int64{}
	var look [3][]string // the pairs the filter may have: origins, destinations, vehicles
	pairs := 0
	keys := d.vr.keys
	byPair := sortedBy(len(keys), func(a, b int32) int {
		return cmp.Or(cmp.Compare(keys[a].route, keys[b].route), cmp.Compare(keys[a].vehicle, keys[b].vehicle))
	})
	_ = runs(byPair, func(a, b int32) bool {
		return keys[a].route == keys[b].route && keys[a].vehicle == keys[b].vehicle
	}, func(run []int32) error {
		k := keys[run[0]]
		c := d.routeCities[k.route]
		r, vehicle := route{d.cities.names[c[0]], d.cities.names[c[1]]}, d.vehicles.names[k.vehicle]
		pairs++
		if f != nil {
			h := pairHash(routeHash(r.origin, r.destination), vehicleHash(vehicle))
			maybe := f.mayHave(h)
			f.add(h)
			if !maybe {
				vehicles[r]++
				return nil
			}
		}
		look[0], look[1], look[2] = append(look[0], r.origin), append(look[1], r.destination), append(look[2], vehicle)
		return nil
	})
	if len(look[0]) > 0 {
		rows, err := tx.Query(ctx, unstoredPairsSQL, look[0], look[1], look[2])
		if err != nil {
			return fmt.Errorf("look up route vehicles: %w", err)
		}
		var r route
		if _, err := pgx.ForEachRow(rows, []any{&r.origin, &r.destination}, func() error {
			vehicles[r]++
			return nil
		}); err != nil {
			return fmt.Errorf("look up route vehicles: %w", err)
		}
	}
	if f != nil {
		// How full the filter is: past its size it takes more pairs for
		// stored ones, until a rebuild makes it anew.
		log.V(2).Info("route vehicle pairs", "pairs", pairs, "lookedUp", len(look[0]),
			"filterPairs", f.pairs, "filterSizedFor", len(f.words)*64/pairFilterBits)
	} else {
		log.V(2).Info("route vehicle pairs", "pairs", pairs, "lookedUp", len(look[0]), "filter", false)
	}
	if _, err := tx.Exec(ctx, newRouteVehiclesSQL); err != nil {
		return fmt.Errorf("stage new route vehicles: %w", err)
	}
	counts := make([][]any, 0, len(vehicles))
	for r, n := range vehicles {
		counts = append(counts, []any{r.origin, r.destination, n})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"new_route_vehicles"}, []string{"origin", "destination", "vehicles"},
		pgx.CopyFromRows(counts)); err != nil {
		return fmt.Errorf("stage new route vehicles: %w", err)
	}
	return nil
}

// write stores the filter with the new pairs, if there was one.
func (s *routeVehicleSteps) write(ctx context.Context, tx pgx.Tx, _ logr.Logger) error {
	if s.filter == nil {
		return nil
	}
	return writePairFilter(ctx, tx, s.filter)
}
