package precalc

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// A route's distinct vehicles (agg_route_totals.unique_vehicles) grow by
// the vehicles that carry it for the first time. routeVehicleSets holds
// every route's vehicles, exactly, kept beside the rollups (state.go): a
// refresh counts a new pair of a route and a vehicle against its route's
// set in memory. Before, a Bloom filter of the stored pairs spared the
// lookups of the new pairs it did not have, but the ones it had (a tenth
// of them with haul gen's data) were looked up in the route's rows of
// agg_route_vehicles, 57-84 µs each in a refresh (cold pages): 0.65 s of a
// refresh of 100k shipments at 10M, 7.3 s of one of 1M. The sets take
// about a byte a pair stored (12 MB at 10M shipments, against 15 MB for
// the filter). Where there are none of the current version (an older haul
// published it, or the migration to them left none), a refresh makes them
// from agg_route_vehicles first, with one scan.
type routeVehicleSets struct {
	vehicles  []string // by number
	vehicleAt map[string]uint32
	routes    []routeName // by place
	routeAt   map[routeName]int32
	sets      [][]uint32 // each route's vehicles, by number, ascending
}

type routeName struct{ origin, destination string }

func newRouteVehicleSets() *routeVehicleSets {
	return &routeVehicleSets{vehicleAt: map[string]uint32{}, routeAt: map[routeName]int32{}}
}

// vehicle returns the vehicle's number, numbering it if it has none.
func (s *routeVehicleSets) vehicle(name string) uint32 {
	v, ok := s.vehicleAt[name]
	if !ok {
		v = uint32(len(s.vehicles))
		s.vehicleAt[name] = v
		s.vehicles = append(s.vehicles, name)
	}
	return v
}

// route returns the route's place, with an empty set if it has none.
func (s *routeVehicleSets) route(r routeName) int32 {
	i, ok := s.routeAt[r]
	if !ok {
		i = int32(len(s.routes))
		s.routeAt[r] = i
		s.routes = append(s.routes, r)
		s.sets = append(s.sets, nil)
	}
	return i
}

// add adds vehicle v to the set of the route at place r, and says whether
// it was not there.
func (s *routeVehicleSets) add(r int32, v uint32) bool {
	i, found := slices.BinarySearch(s.sets[r], v)
	if found {
		return false
	}
	s.sets[r] = slices.Insert(s.sets[r], i, v)
	return true
}

// pairs counts the pairs the sets hold.
func (s *routeVehicleSets) pairs() int {
	n := 0
	for _, set := range s.sets {
		n += len(set)
	}
	return n
}

// marshal encodes the sets: the vehicles' names in number order, the
// number of routes and of pairs, then each route's origin, destination and
// vehicles, as the gaps between their numbers; every number and length a
// uvarint. A pair takes about a byte.
func (s *routeVehicleSets) marshal() []byte {
	pairs := s.pairs()
	b := make([]byte, 0, pairs+32*len(s.routes)+16*len(s.vehicles)+32)
	b = binary.AppendUvarint(b, uint64(len(s.vehicles)))
	str := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	for _, v := range s.vehicles {
		str(v)
	}
	b = binary.AppendUvarint(b, uint64(len(s.routes)))
	b = binary.AppendUvarint(b, uint64(pairs))
	for i, r := range s.routes {
		str(r.origin)
		str(r.destination)
		b = binary.AppendUvarint(b, uint64(len(s.sets[i])))
		last := uint32(0)
		for _, v := range s.sets[i] {
			b = binary.AppendUvarint(b, uint64(v-last))
			last = v
		}
	}
	return b
}

var errRouteVehicleSets = errors.New("malformed route vehicle sets")

// setsReader reads the uvarints and strings of the sets' stored forms
// (marshal, marshalDelta). Every count is bounded by the bytes left: an
// element takes one.
type setsReader struct{ b []byte }

func (r *setsReader) num(limit uint64) (uint64, error) {
	n, size := binary.Uvarint(r.b)
	if size <= 0 || n > limit {
		return 0, errRouteVehicleSets
	}
	r.b = r.b[size:]
	return n, nil
}

func (r *setsReader) str() (string, error) {
	n, err := r.num(uint64(len(r.b)))
	if err != nil || uint64(len(r.b)) < n {
		return "", errRouteVehicleSets
	}
	v := string(r.b[:n])
	r.b = r.b[n:]
	return v, nil
}

// vehicles reads a count of vehicles and their names, and numbers them in
// s after its own.
func (r *setsReader) vehicles(s *routeVehicleSets) error {
	n, err := r.num(uint64(len(r.b)))
	if err != nil {
		return err
	}
	for range n {
		v, err := r.str()
		if err != nil {
			return err
		}
		if s.vehicle(v) != uint32(len(s.vehicles)-1) {
			return fmt.Errorf("%w: vehicle %q twice", errRouteVehicleSets, v)
		}
	}
	return nil
}

// route reads a route's origin and destination and places it in s after
// its own.
func (r *setsReader) route(s *routeVehicleSets) (int32, error) {
	var name routeName
	var err error
	if name.origin, err = r.str(); err != nil {
		return 0, err
	}
	if name.destination, err = r.str(); err != nil {
		return 0, err
	}
	at := s.route(name)
	if int(at) != len(s.routes)-1 {
		return 0, fmt.Errorf("%w: route %q to %q twice", errRouteVehicleSets, name.origin, name.destination)
	}
	return at, nil
}

func unmarshalRouteVehicleSets(b []byte) (*routeVehicleSets, error) {
	s := newRouteVehicleSets()
	r := &setsReader{b}
	if err := r.vehicles(s); err != nil {
		return nil, err
	}
	routes, err := r.num(uint64(len(r.b)))
	if err != nil {
		return nil, err
	}
	pairs, err := r.num(uint64(len(r.b)))
	if err != nil {
		return nil, err
	}
	// One array for every set, each capped at its length, so that adding
	// to one moves it out instead of overwriting the next.
	all := make([]uint32, pairs)
	for range routes {
		at, err := r.route(s)
		if err != nil {
			return nil, err
		}
		n, err := r.num(uint64(len(all)))
		if err != nil {
			return nil, err
		}
		set := all[:n:n]
		all = all[n:]
		v := uint64(0)
		for i := range set {
			var gap uint64
			if len(r.b) > 0 && r.b[0] < 0x80 { // most gaps: a byte
				gap, r.b = uint64(r.b[0]), r.b[1:]
			} else if gap, err = r.num(uint64(len(s.vehicles))); err != nil {
				return nil, err
			}
			if (i > 0 && gap == 0) || v+gap >= uint64(len(s.vehicles)) {
				return nil, errRouteVehicleSets
			}
			v += gap
			set[i] = uint32(v)
		}
		s.sets[at] = set
	}
	if len(r.b) != 0 || len(all) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the sets, %d pairs fewer than counted", errRouteVehicleSets, len(r.b), len(all))
	}
	return s, nil
}

// readRouteVehicleSetsSQL reads every route's stored vehicles: a route's
// segments each list theirs, and its origin's rows of agg_origin_vehicles
// some more.
const readRouteVehicleSetsSQL = `COPY (
SELECT origin, destination, vehicle_ids FROM agg_route_vehicles
UNION ALL
SELECT origin, de, array_agg(v) FROM agg_origin_vehicles, unnest(destinations, vehicle_ids) AS u(de, v) GROUP BY 1, 2
ORDER BY 1, 2) TO STDOUT (FORMAT binary)`

// routeVehicleSetsOfRollups makes the sets from agg_route_vehicles.
func routeVehicleSetsOfRollups(ctx context.Context, tx pgx.Tx, log logr.Logger) (*routeVehicleSets, error) {
	s := newRouteVehicleSets()
	var ids [][]byte
	d := &pgcopy.Decoder{Row: func(f [][]byte) error {
		if err := fieldsOK(f, 0, 0, -1); err != nil { // an array's size is not bounded
			return err
		}
		r := s.route(routeName{string(f[0]), string(f[1])})
		var err error
		if ids, err = pgcopy.TextArray(f[2], -1, ids[:0]); err != nil {
			return err
		}
		for _, id := range ids {
			s.add(r, s.vehicle(string(id)))
		}
		return nil
	}}
	if _, err := tx.Conn().PgConn().CopyTo(ctx, d, readRouteVehicleSetsSQL); err != nil {
		return nil, fmt.Errorf("read route vehicles: %w", err)
	}
	if err := d.Close(); err != nil {
		return nil, fmt.Errorf("read route vehicles: %w", err)
	}
	log.V(1).Info("route vehicle sets made from the rollups", "routes", len(s.routes), "pairs", s.pairs())
	return s, nil
}

// routeVehicleSteps are a refresh's steps for the pairs of a route and a
// vehicle, those of the new rows' groups (delta): stage, then wait, before
// the sums are staged; and write, once the version is bumped.
type routeVehicleSteps struct {
	delta  *deltaRows
	sets   *routeVehicleSets
	stored storedSets
	added  setsDelta
	// counted gets the outcome of count, once it has run.
	counted chan error
}

// stage reads the sets of the current version (or makes them from the
// rollups) and counts the new pairs (count). Stored sets are decoded and
// counted in the background, while the refresh appends its segments,
// which do not need them: at 10M shipments this took 0.15-0.3 s of a
// refresh, mostly haul's.
func (s *routeVehicleSteps) stage(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	rows, err := readSetsRows(ctx, tx)
	if err != nil {
		return err
	}
	s.counted = make(chan error, 1)
	if rows == nil {
		if s.sets, err = routeVehicleSetsOfRollups(ctx, tx, log); err != nil {
			return err
		}
		s.count()
		s.counted <- nil
		return nil
	}
	go func() {
		sets, stored, err := decodeSets(rows)
		if err == nil {
			s.sets, s.stored = sets, stored
			s.count()
		}
		s.counted <- err
	}()
	return nil
}

// wait waits for the count stage started.
func (s *routeVehicleSteps) wait(context.Context, pgx.Tx, logr.Logger) error {
	return <-s.counted
}

// count counts, per route, the vehicles that carry it for the first time
// (delta.newVehicles), and adds the new pairs to the sets.
func (s *routeVehicleSteps) count() {
	sets, d := s.sets, s.delta
	s.added = setsDelta{vehicles: len(sets.vehicles), routes: len(sets.routes)}
	// The delta's routes and vehicles, as the sets number them.
	routes := make([]int32, len(d.routeCities))
	for i, c := range d.routeCities {
		routes[i] = sets.route(routeName{d.cities.names[c[0]], d.cities.names[c[1]]})
	}
	vehicles := make([]uint32, len(d.vehicles.names))
	for i, name := range d.vehicles.names {
		vehicles[i] = sets.vehicle(name)
	}
	d.newVehicles = make([]int64, len(d.routeCities))
	for _, k := range d.vr.keys {
		r, v := routes[k.route], vehicles[k.vehicle]
		if sets.add(r, v) {
			d.newVehicles[k.route]++
			s.added.pairs = append(s.added.pairs, uint64(r)<<32|uint64(v))
		}
	}
}

// write stores the sets with the new pairs: a delta, or a new base.
func (s *routeVehicleSteps) write(ctx context.Context, tx pgx.Tx, _ logr.Logger) error {
	delta := s.sets.marshalDelta(s.added)
	if s.stored.rebase(len(delta)) {
		return writeRouteVehicleSets(ctx, tx, s.sets)
	}
	if _, err := tx.Exec(ctx, writeSetsDeltaSQL, stateRouteVehicleSets, delta); err != nil {
		return fmt.Errorf("write a delta of %s: %w", stateRouteVehicleSets, err)
	}
	return nil
}

// routeVehicleSetsOfRanks makes the sets the rebuild writes: vehicles
// numbered by rank (name order), routes in rank order, each route's
// vehicles by rank.
func (b *builder) routeVehicleSetsOfRanks(byRoute [][]uint32) *routeVehicleSets {
	s := newRouteVehicleSets()
	for _, v := range b.vehicleByRank {
		s.vehicle(b.r.vehicles.names[v])
	}
	for rank, route := range b.routeByRank {
		if len(byRoute[rank]) == 0 {
			continue
		}
		c := b.r.routeCities[route]
		at := s.route(routeName{b.r.cities.names[c[0]], b.r.cities.names[c[1]]})
		slices.SortFunc(byRoute[rank], cmp.Compare)
		s.sets[at] = byRoute[rank]
	}
	return s
}
