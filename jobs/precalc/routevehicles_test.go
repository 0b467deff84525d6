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
		again, err := unmarshalRouteVehicleSets(s.marshal())
		if err != nil {
			t.Fatalf("stored again, the sets are refused: %v", err)
		}
		if !bytes.Equal(again.marshal(), s.marshal()) {
			t.Fatal("the sets changed once stored again")
		}
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
