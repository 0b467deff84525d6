package precalc

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/radixsort"
)

// The route vehicle sets are stored as a base, the sets as of the version
// it was written with (route_vehicle_sets), and a delta per version since
// (route_vehicle_sets+VERSION): the vehicles and routes that version
// numbered and the pairs it added. Written back whole, the sets took
// 0.3-0.5 s of every refresh at 10M shipments (12.7 MB), whatever it
// added; a delta takes about 3 bytes a new pair. A refresh writes a new
// base, and drops the deltas, once they would outweigh a quarter of the
// base (and 1 MB), or number maxSetsDeltas. The sets of the current version
// are the base and a delta for every version after it, up to the current
// one; any gap (a version an older haul published) and there are none.
const (
	readSetsSQL = `SELECT r.name, r.version, r.data, s.version FROM precalc_refresh_state r, precalc_state s
WHERE r.name = $1 OR starts_with(r.name, $1 || '+') ORDER BY r.version`
	writeSetsDeltaSQL = `INSERT INTO precalc_refresh_state (name, version, data)
SELECT $1 || '+' || version, version, $2 FROM precalc_state`
	dropSetsDeltasSQL = `DELETE FROM precalc_refresh_state WHERE starts_with(name, $1 || '+')`
)

const (
	maxSetsDeltas     = 64
	minSetsDeltaBytes = 1 << 20
)

// storedSets is how the sets a refresh read were stored: ok, as a base of
// base bytes and n deltas of deltas bytes; else they were made from the
// rollups.
type storedSets struct {
	ok              bool
	base, deltas, n int
}

// rebase says whether the sets, stored this way, are written as a new base
// rather than with a delta of delta bytes more.
func (st storedSets) rebase(delta int) bool {
	return !st.ok || st.n+1 > maxSetsDeltas || st.deltas+delta > max(st.base/4, minSetsDeltaBytes)
}

// setsRow is a stored row of the sets: the base or a delta.
type setsRow struct {
	name string
	data []byte
}

// readSetsRows returns the rows that hold the sets of the current version,
// the base first, then the deltas in version order; nil when there are
// none.
func readSetsRows(ctx context.Context, tx pgx.Tx) ([]setsRow, error) {
	rows, err := tx.Query(ctx, readSetsSQL, stateRouteVehicleSets)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stateRouteVehicleSets, err)
	}
	var stored []setsRow
	var versions []int64
	var r setsRow
	var version, current int64
	if _, err := pgx.ForEachRow(rows, []any{&r.name, &version, &r.data, &current}, func() error {
		stored = append(stored, r)
		versions = append(versions, version)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read %s: %w", stateRouteVehicleSets, err)
	}
	if len(stored) == 0 || stored[0].name != stateRouteVehicleSets || versions[len(versions)-1] != current {
		return nil, nil
	}
	for i, v := range versions {
		if want := versions[0] + int64(i); v != want ||
			(i > 0 && stored[i].name != fmt.Sprintf("%s+%d", stateRouteVehicleSets, want)) {
			return nil, nil
		}
	}
	return stored, nil
}

// decodeSets makes the sets of their stored rows.
func decodeSets(rows []setsRow) (*routeVehicleSets, storedSets, error) {
	st := storedSets{ok: true, base: len(rows[0].data), n: len(rows) - 1}
	sets, err := unmarshalRouteVehicleSets(rows[0].data)
	if err != nil {
		return nil, st, fmt.Errorf("read %s: %w", rows[0].name, err)
	}
	for _, r := range rows[1:] {
		if err := sets.apply(r.data); err != nil {
			return nil, st, fmt.Errorf("read %s: %w", r.name, err)
		}
		st.deltas += len(r.data)
	}
	return sets, st, nil
}

// writeRouteVehicleSets stores the sets as the base of the current version,
// without deltas.
func writeRouteVehicleSets(ctx context.Context, tx pgx.Tx, sets *routeVehicleSets) error {
	if _, err := tx.Exec(ctx, dropSetsDeltasSQL, stateRouteVehicleSets); err != nil {
		return fmt.Errorf("write %s: %w", stateRouteVehicleSets, err)
	}
	return writeState(ctx, tx, stateRouteVehicleSets, sets.marshal())
}

// setsDelta is what a refresh adds to the sets: the vehicles and routes it
// numbers, after the first vehicles and routes, and the new pairs (route
// << 32 | vehicle).
type setsDelta struct {
	vehicles, routes int
	pairs            []uint64
}

// marshalDelta encodes d, which added to s (and sorts its pairs): the vehicles numbered before
// it, the names of those it numbered; the routes before it, the names of
// those it numbered; the pairs, by route and vehicle, each as the gap from
// the last route and the vehicle; every number and length a uvarint.
func (s *routeVehicleSets) marshalDelta(d setsDelta) []byte {
	b := make([]byte, 0, 3*len(d.pairs)+32)
	str := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	b = binary.AppendUvarint(b, uint64(d.vehicles))
	b = binary.AppendUvarint(b, uint64(len(s.vehicles)-d.vehicles))
	for _, v := range s.vehicles[d.vehicles:] {
		str(v)
	}
	b = binary.AppendUvarint(b, uint64(d.routes))
	b = binary.AppendUvarint(b, uint64(len(s.routes)-d.routes))
	for _, r := range s.routes[d.routes:] {
		str(r.origin)
		str(r.destination)
	}
	var sorter radixsort.Sorter
	sorter.Uint64s(d.pairs)
	b = binary.AppendUvarint(b, uint64(len(d.pairs)))
	last := uint64(0)
	for _, p := range d.pairs {
		b = binary.AppendUvarint(b, p>>32-last)
		b = binary.AppendUvarint(b, p&math.MaxUint32)
		last = p >> 32
	}
	return b
}

// apply adds a delta, as marshalDelta encodes it, to the sets. It refuses
// one that does not follow them (other counts of vehicles or routes
// before it), or adds a pair they hold.
func (s *routeVehicleSets) apply(b []byte) error {
	r := &setsReader{b}
	before, err := r.num(uint64(len(s.vehicles)))
	if err != nil || before != uint64(len(s.vehicles)) {
		return fmt.Errorf("%w: a delta after %d vehicles, the sets have %d", errRouteVehicleSets, before, len(s.vehicles))
	}
	if err := r.vehicles(s); err != nil {
		return err
	}
	before, err = r.num(uint64(len(s.routes)))
	if err != nil || before != uint64(len(s.routes)) {
		return fmt.Errorf("%w: a delta after %d routes, the sets have %d", errRouteVehicleSets, before, len(s.routes))
	}
	n, err := r.num(uint64(len(r.b)))
	if err != nil {
		return err
	}
	for range n {
		if _, err := r.route(s); err != nil {
			return err
		}
	}
	if n, err = r.num(uint64(len(r.b))); err != nil {
		return err
	}
	route := uint64(0)
	for range n {
		gap, err := r.num(uint64(len(s.routes)))
		if err != nil {
			return err
		}
		v, err := r.num(uint64(len(s.vehicles)))
		if err != nil {
			return err
		}
		if route += gap; route >= uint64(len(s.routes)) || v >= uint64(len(s.vehicles)) {
			return errRouteVehicleSets
		}
		if !s.add(int32(route), uint32(v)) {
			return fmt.Errorf("%w: a delta adds a pair the sets hold", errRouteVehicleSets)
		}
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the delta", errRouteVehicleSets, len(r.b))
	}
	return nil
}
