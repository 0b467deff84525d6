package precalc

import "testing"

// fullIsCheaper picks the path the measured costs say is cheaper.
func TestFullIsCheaper(t *testing.T) {
	for _, c := range []struct {
		name string
		est  costEstimate
		want bool
	}{
		{"nothing", costEstimate{}, false},
		{"one new day of 10M", costEstimate{added: 13_500, total: 15_000_000, shipments: 10_000_000}, false},
		{"1% more over every day of 10M",
			costEstimate{added: 150_000, onOldDays: 100_000, total: 15_000_000, shipments: 10_000_000}, false},
		// Measured at 2M: 16.2 s incremental, 19.7 s full.
		{"10% more on new days of 2M", costEstimate{added: 300_000, total: 3_000_000, shipments: 2_000_000}, false},
		// Measured at 2M: 36.7 s incremental, 26.0 s full.
		{"10% more over every day of 2M",
			costEstimate{added: 300_000, onOldDays: 200_000, total: 3_000_000, shipments: 2_000_000}, true},
		{"as much again as is there",
			costEstimate{added: 3_000_000, onOldDays: 2_000_000, total: 3_000_000, shipments: 2_000_000}, true},
		{"a few shipments on old logs",
			costEstimate{added: 1_000, onOldDays: 1_000, total: 3_000_000, shipments: 2_000_000, oldLogs: true}, false},
		{"small data: the full path's fixed cost dominates",
			costEstimate{added: 9_000, onOldDays: 6_000, total: 30_000, shipments: 20_000}, false},
	} {
		if got := c.est.fullIsCheaper(); got != c.want {
			t.Errorf("%s (%+v): full is cheaper %v, want %v", c.name, c.est, got, c.want)
		}
	}
}
