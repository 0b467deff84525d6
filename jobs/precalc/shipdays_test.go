package precalc

import "testing"

// A vehicle's first shipment of a day is told from the ones after it,
// whatever the day (before 2000, across blocks), and the days come back
// from their stored form; a cut one is refused.
func TestShipDays(t *testing.T) {
	s := shipDays{}
	days := []int32{0, 1, 511, 512, -1, -512, -513, 3_000_000, -700_000}
	for _, d := range days {
		for _, v := range []string{"V-1", "V-2"} {
			if !s.add(v, d) {
				t.Errorf("%s on day %d: first, yet said not", v, d)
			}
		}
	}
	g, err := unmarshalShipDays(s.marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		if g.add("V-1", d) {
			t.Errorf("day %d: not the first after the round trip, yet said so", d)
		}
	}
	if !g.add("V-1", 2) || !g.add("V-3", 0) {
		t.Error("a day never added was taken for one")
	}
	if b := s.marshal(); len(b) > 0 {
		if _, err := unmarshalShipDays(b[:len(b)-1]); err == nil {
			t.Error("a cut encoding was accepted")
		}
	}
}
