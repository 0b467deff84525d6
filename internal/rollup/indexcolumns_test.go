package rollup

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestIndexColumns: every column kind returns a run's window sums as
// adding its entries up does, whether it stays narrow or widens, for the
// value or the run total that does not fit.
func TestIndexColumns(t *testing.T) {
	// Two runs: entries 0..2 and 3..6.
	first := []int32{0, 3, 7}
	windows := [][3]int32{{0, 0, 3}, {0, 1, 2}, {0, 2, 3}, {3, 3, 7}, {3, 4, 6}, {3, 6, 7}}
	t.Run("int", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			values []int64
			narrow bool
		}{
			{"narrow", []int64{1, 2, 3, 4, 5, 6, 7}, true},
			{"a value too large", []int64{1, 1 << 40, 3, 4, 5, 6, 7}, false},
			{"a negative value", []int64{1, -2, 3, 4, 5, 6, 7}, false},
			{"a run total too large", []int64{1, 2, 3, math.MaxUint32, 1, 0, 0}, false},
		} {
			s := newIntSums(len(c.values))
			for i, v := range c.values {
				s.set(i, v)
			}
			s.cumulate(first)
			if (s.narrow != nil) != c.narrow {
				t.Errorf("%s: narrow %v, want %v", c.name, s.narrow != nil, c.narrow)
			}
			checkWindowSums(t, c.name, c.values, windows, s.sum, func(got, want int64) bool { return got == want })
		}
	})
	t.Run("pairs", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			a, b   []int64
			packed bool
		}{
			{"packed", []int64{1, 2, 3, 4, 5, 6, 7}, []int64{0, 1, 3, 0, 2, 6, 1}, true},
			{"a value too large", []int64{1, 1 << 16, 3, 4, 5, 6, 7}, []int64{0, 1, 3, 0, 2, 6, 1}, false},
			{"a run total too large", []int64{1, 2, 3, 40000, 30000, 6, 7}, []int64{0, 1, 3, 0, 2, 6, 1}, false},
			{"a second total too large", []int64{1, 2, 3, 4, 5, 6, 7}, []int64{0, 1, 3, 40000, 30000, 6, 1}, false},
		} {
			s := newCountPairs(len(c.a))
			for i := range c.a {
				s.set(i, c.a[i], c.b[i])
			}
			s.cumulate(first)
			if (s.packed != nil) != c.packed {
				t.Errorf("%s: packed %v, want %v", c.name, s.packed != nil, c.packed)
			}
			for _, w := range windows {
				var wantA, wantB int64
				for i := w[1]; i < w[2]; i++ {
					wantA, wantB = wantA+c.a[i], wantB+c.b[i]
				}
				if a, b := s.sum(w[0], w[1], w[2]); a != wantA || b != wantB {
					t.Errorf("%s: entries %d..%d: %d, %d, want %d, %d", c.name, w[1], w[2], a, b, wantA, wantB)
				}
			}
		}
	})
	t.Run("float", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			values []float64
			fixed  bool
		}{
			{"cents", []float64{0.01, 12.34, 1500, 0.1 + 0.2, 99.99, 5.05, 1e6}, true},
			{"a third decimal", []float64{0.01, 12.345, 1500, 0.3, 99.99, 5.05, 1e6}, false},
			{"a run total too large", []float64{0.01, 12.34, 1500, 4e7, 3e7, 5.05, 1}, false},
			{"a negative value", []float64{0.01, -12.34, 1500, 0.3, 99.99, 5.05, 1}, false},
		} {
			s := newFloatSums(len(c.values), false)
			for i, v := range c.values {
				s.set(i, v, 2)
			}
			s.cumulate(first)
			if (s.fixed != nil) != c.fixed {
				t.Errorf("%s: fixed %v, want %v", c.name, s.fixed != nil, c.fixed)
			}
			checkWindowSums(t, c.name, c.values, windows, s.sum, func(got, want float64) bool {
				return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
			})
		}
	})
}

// TestToFixed: a float sum of whole cents is taken as their exact sum, a
// value off a whole cent by more than its own rounding is not.
func TestToFixed(t *testing.T) {
	for _, c := range []struct {
		v    float64
		n    int64
		want uint32
		ok   bool
	}{
		{0.1 + 0.2, 2, 30, true},
		{12.34, 1, 1234, true},
		{1500, 1, 150000, true},
		{0, 1, 0, true},
		{12.345, 1, 0, false},
		{12.34 + 1e-9, 1, 0, false},
		{-1, 1, 0, false},
		{math.NaN(), 1, 0, false},
		{math.Inf(1), 1, 0, false},
		{5e7, 1, 0, false},
	} {
		if got, ok := toFixed(c.v, c.n); got != c.want || ok != c.ok {
			t.Errorf("toFixed(%v, %d) = %d, %v; want %d, %v", c.v, c.n, got, ok, c.want, c.ok)
		}
	}
}

// TestDayColumn: a run's window holds the entries whose days are in it,
// for days as uint16 after a base and as int32, short runs and long ones,
// and windows beyond either end of the column's range.
func TestDayColumn(t *testing.T) {
	days := []int32{100, 102, 102, 200, 50, 60, 70, 80, 90, 95, 96, 97, 98, 99, 99, 99, 99, 100, 101, 102, 103}
	first := []int32{0, 4, 21}
	ends := []int32{math.MinInt32, -70000, 0, 49, 50, 51, 96, 99, 100, 101, 102, 103, 200, 201, 70000, math.MaxInt32}
	for _, c := range []struct {
		name   string
		lo, hi int32
		narrow bool
	}{{"narrow", 50, 200, true}, {"wide", -100000, 200, false}} {
		col := newDayColumn(len(days), c.lo, c.hi)
		for i, d := range days {
			col.set(i, d)
		}
		if (col.narrow != nil) != c.narrow {
			t.Fatalf("%s: narrow %v", c.name, col.narrow != nil)
		}
		for k := 0; k+1 < len(first); k++ {
			lo, hi := first[k], first[k+1]
			for _, from := range ends {
				for _, to := range ends {
					if to < from {
						continue
					}
					wantI, wantJ := lo, lo
					for wantI < hi && days[wantI] < from {
						wantI++
					}
					for wantJ < hi && days[wantJ] <= to {
						wantJ++
					}
					if i, j := col.window(lo, hi, from, to); i != wantI || j != wantJ {
						t.Errorf("%s: run %d, %d..%d: entries %d..%d, want %d..%d", c.name, k, from, to, i, j, wantI, wantJ)
					}
				}
			}
		}
	}
}

// TestRoutesInParts: a list long enough to be added up in parts is the
// list one part adds up.
func TestRoutesInParts(t *testing.T) {
	const routes = 3 * routesPerPart
	keys := make([]RouteKey, routes)
	var rows []indexRow
	for r := range keys {
		keys[r] = RouteKey{Origin: fmt.Sprintf("o%05d", r), Destination: "d"}
		// Every third route has no shipment on the window's days.
		for d := range int32(3) {
			day := int32(19000) + d
			if r%3 == 0 {
				day += 10
			}
			rows = append(rows, indexRow{route: int32(r), dt: 1 + int32(r%5), day: day, n: 1, onTime: 1,
				cost: 1.5, weight: 2, cpk: 0.75})
		}
	}
	x := buildRouteIndex(1, keys, rows)
	w := Window{Start: time.Unix(19000*86400, 0).UTC(), End: time.Unix(19002*86400, 0).UTC()}
	got := x.Routes(w)
	var meet []int32
	for r := range keys {
		meet = append(meet, int32(r))
	}
	want := make([]Route, routes)
	want = want[:x.addRoutes(want, meet, 19000, 19002)]
	if len(got) != len(want) || len(want) != routes*2/3 {
		t.Fatalf("%d routes, want %d (%d)", len(got), len(want), routes*2/3)
	}
	for i := range want {
		if got[i].RouteKey != want[i].RouteKey || got[i].Shipments != want[i].Shipments ||
			got[i].SumCost != want[i].SumCost || got[i].SumDT2.Cmp(want[i].SumDT2) != 0 {
			t.Fatalf("route %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// checkWindowSums checks sum over each window (a run's first entry, then
// the window's entries i..j-1) against the sum of the values there.
func checkWindowSums[T int64 | float64](t *testing.T, name string, values []T, windows [][3]int32,
	sum func(lo, i, j int32) T, equal func(got, want T) bool) {
	t.Helper()
	for _, w := range windows {
		var want T
		for _, v := range values[w[1]:w[2]] {
			want += v
		}
		if got := sum(w[0], w[1], w[2]); !equal(got, want) {
			t.Errorf("%s: entries %d..%d: %v, want %v", name, w[1], w[2], got, want)
		}
	}
}
