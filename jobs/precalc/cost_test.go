package precalc

import "testing"

// fullIsCheaper picks the path the measurements say is cheaper.
func TestFullIsCheaper(t *testing.T) {
	for _, c := range []struct {
		est  costEstimate
		want bool
	}{
		{costEstimate{}, false},
		// One new day of 10M shipments: incremental.
		{costEstimate{redo: 0, added: 13_500, total: 15_000_000}, false},
		// 1% more spread over every day of 2M: full.
		{costEstimate{redo: 3_000_000, added: 30_000, total: 3_000_000}, true},
		// 10% more on new days of 2M: full (18.3 s incremental, 11.2 s full).
		{costEstimate{redo: 0, added: 300_000, total: 3_000_000}, true},
		// Small data: the full path's fixed cost dominates.
		{costEstimate{redo: 6_000, added: 9_000, total: 30_000}, false},
	} {
		if got := c.est.fullIsCheaper(); got != c.want {
			t.Errorf("%+v: full is cheaper %v, want %v", c.est, got, c.want)
		}
	}
}
