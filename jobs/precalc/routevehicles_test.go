package precalc

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// The sets count each pair once, in any order, and come back from their
// stored form the same; a stored form cut short or padded is refused.
func TestRouteVehicleSets(t *testing.T) {
	s := newRouteVehicleSets()
	added := 0
	for i := range 20_000 {
		r := s.route(routeName{fmt.Sprintf("City %d", i%30), fmt.Sprintf("City %d", i%11)})
		if s.add(r, s.vehicle(fmt.Sprintf("VH-%05d", (i*7919)%1500))) {
			added++
		}
	}
	if added != s.pairs() || added == 0 || added == 20_000 {
		t.Fatalf("%d pairs added, the sets hold %d; want as many, some repeated", added, s.pairs())
	}
	for i, set := range s.sets {
		if !slices.IsSorted(set) || len(slices.Compact(slices.Clone(set))) != len(set) {
			t.Fatalf("route %v: vehicles %v, want ascending and distinct", s.routes[i], set)
		}
	}
	// A route is not its reverse.
	if s.route(routeName{"A", "B"}) == s.route(routeName{"B", "A"}) {
		t.Error("a route and its reverse share a set")
	}
	b := s.marshal()
	got, err := unmarshalRouteVehicleSets(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.vehicles, s.vehicles) || !slices.Equal(got.routes, s.routes) ||
		!slices.EqualFunc(got.sets, s.sets, slices.Equal) {
		t.Error("the sets changed in their round trip")
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(slices.Clone(b), 0), {1, 1, 'a', 1, 1, 'b', 1, 'c', 1, 1}} {
		if _, err := unmarshalRouteVehicleSets(bad); err == nil {
			t.Errorf("sets of %d bytes (%x…) were accepted", len(bad), bad[:min(len(bad), 8)])
		}
	}
}

// FuzzRouteVehicleSets: no stored form makes the reader fail other than
// with an error, and what it accepts comes back the same once stored again.
func FuzzRouteVehicleSets(f *testing.F) {
	s := newRouteVehicleSets()
	s.add(s.route(routeName{"A", "B"}), s.vehicle("V1"))
	s.add(s.route(routeName{"A", "B"}), s.vehicle("V2"))
	s.add(s.route(routeName{"B", "A"}), s.vehicle("V2"))
	f.Add(s.marshal())
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := unmarshalRouteVehicleSets(b)
		if err != nil {
			return
		}
		assertStoredAgain(t, s)
	})
}

// assertStoredAgain checks that sets stored and read back are the same.
func assertStoredAgain(t *testing.T, s *routeVehicleSets) {
	t.Helper()
	again, err := unmarshalRouteVehicleSets(s.marshal())
	if err != nil {
		t.Fatalf("stored again, the sets are refused: %v", err)
	}
	if !bytes.Equal(again.marshal(), s.marshal()) {
		t.Fatal("the sets changed once stored again")
	}
}

// A delta brings the sets it was made after to the sets it was made from,
// with the vehicles and routes it numbered; one that does not follow the
// sets it is applied to, or is cut short, is refused.
func TestRouteVehicleSetsDelta(t *testing.T) {
	s := newRouteVehicleSets()
	add := func(from, to int) setsDelta {
		d := setsDelta{vehicles: len(s.vehicles), routes: len(s.routes)}
		for i := from; i < to; i++ {
			r := s.route(routeName{fmt.Sprintf("City %d", i%17), fmt.Sprintf("City %d", i%13)})
			v := s.vehicle(fmt.Sprintf("VH-%05d", (i*7919)%(200+i/10)))
			if s.add(r, v) {
				d.pairs = append(d.pairs, uint64(r)<<32|uint64(v))
			}
		}
		return d
	}
	add(0, 3_000)
	base := s.marshal()
	var deltas [][]byte
	for _, span := range [][2]int{{3_000, 3_500}, {3_500, 3_500}, {3_500, 6_000}} {
		d := add(span[0], span[1])
		if span[0] < span[1] && len(d.pairs) == 0 {
			t.Fatalf("no new pairs in %v", span)
		}
		deltas = append(deltas, s.marshalDelta(d))
	}
	got, err := unmarshalRouteVehicleSets(base)
	if err != nil {
		t.Fatal(err)
	}
	before := len(got.vehicles)
	for _, d := range deltas {
		if err := got.apply(d); err != nil {
			t.Fatal(err)
		}
	}
	if len(got.vehicles) == before || !slices.Equal(got.vehicles, s.vehicles) || !slices.Equal(got.routes, s.routes) ||
		!slices.EqualFunc(got.sets, s.sets, slices.Equal) {
		t.Error("the base and its deltas are not the sets they were made from")
	}
	last := deltas[2]
	for name, bad := range map[string][]byte{
		"applied twice": last,
		"cut short":     last[:len(last)-1],
		"padded":        append(slices.Clone(last), 0),
	} {
		again, err := unmarshalRouteVehicleSets(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deltas[:2] {
			if err := again.apply(d); err != nil {
				t.Fatal(err)
			}
		}
		if name == "applied twice" {
			if err := again.apply(last); err != nil {
				t.Fatal(err)
			}
		}
		if err := again.apply(bad); err == nil {
			t.Errorf("a delta %s was accepted", name)
		}
	}
}

// The sets are written as a new base once their deltas would outweigh a
// quarter of the base, at least minSetsDeltaBytes, or number
// maxSetsDeltas; and always when they were made from the rollups.
func TestRouteVehicleSetsRebase(t *testing.T) {
	big := 40 * minSetsDeltaBytes
	for _, c := range []struct {
		stored storedSets
		delta  int
		want   bool
	}{
		{storedSets{}, 10, true},
		{storedSets{ok: true, base: big}, 10, false},
		{storedSets{ok: true, base: big, deltas: big / 4, n: 3}, 0, false},
		{storedSets{ok: true, base: big, deltas: big / 4, n: 3}, 1, true},
		{storedSets{ok: true, base: 100, deltas: minSetsDeltaBytes - 10, n: 3}, 10, false},
		{storedSets{ok: true, base: 100, deltas: minSetsDeltaBytes - 10, n: 3}, 11, true},
		{storedSets{ok: true, base: big, n: maxSetsDeltas - 1}, 1, false},
		{storedSets{ok: true, base: big, n: maxSetsDeltas}, 1, true},
	} {
		if got := c.stored.rebase(c.delta); got != c.want {
			t.Errorf("%+v, a delta of %d bytes: rebase %v, want %v", c.stored, c.delta, got, c.want)
		}
	}
}

// FuzzRouteVehicleSetsDelta: no delta makes applying it fail other than
// with an error, and the sets it is accepted into store and read back the
// same.
func FuzzRouteVehicleSetsDelta(f *testing.F) {
	s := newRouteVehicleSets()
	s.add(s.route(routeName{"A", "B"}), s.vehicle("V1"))
	base := s.marshal()
	d := setsDelta{vehicles: 1, routes: 1}
	r, v := s.route(routeName{"B", "A"}), s.vehicle("V2")
	s.add(r, v)
	d.pairs = append(d.pairs, uint64(r)<<32|uint64(v))
	s.add(0, v)
	d.pairs = append(d.pairs, uint64(v))
	f.Add(s.marshalDelta(d))
	f.Add([]byte{1, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := unmarshalRouteVehicleSets(base)
		if err != nil {
			t.Fatal(err)
		}
		if s.apply(b) != nil {
			return
		}
		assertStoredAgain(t, s)
	})
}

// BenchmarkRouteVehicleSets measures what a refresh spends reading the
// sets and writing them back at 10M shipments of haul gen's data: 90k
// routes, 5k vehicles, 9.5M pairs.
func BenchmarkRouteVehicleSets(b *testing.B) {
	s := newRouteVehicleSets()
	for v := range 5000 {
		s.vehicle(fmt.Sprintf("VH-%05d", v))
	}
	for r := range 90_000 {
		at := s.route(routeName{fmt.Sprintf("City %d", r/300), fmt.Sprintf("City %d", r%300)})
		for i := range 106 {
			s.add(at, uint32((r*7919+i*47)%5000))
		}
	}
	data := s.marshal()
	b.ReportMetric(float64(len(data)), "bytes")
	b.ResetTimer()
	for range b.N {
		got, err := unmarshalRouteVehicleSets(data)
		if err != nil {
			b.Fatal(err)
		}
		_ = got.marshal()
	}
}
