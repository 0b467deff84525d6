package precalc

import "testing"

// fullIsCheaper picks the path the measured costs say is cheaper.
func TestFullIsCheaper(t *testing.T) {
	for _, c := range []struct {
		est  costEstimate
		want bool
	}{
		{costEstimate{}, false},
		// One new day of 10M shipments: incremental.
		{costEstimate{added: 13_500, total: 15_000_000, shipments: 10_000_000}, false},
		// 1% more spread over every day of 10M: incremental.
		{costEstimate{added: 150_000, dayRows: 10_000_000, total: 15_000_000, shipments: 10_000_000}, false},
		// 10% more spread over every day of 2M: incremental.
		{costEstimate{added: 300_000, dayRows: 2_000_000, total: 3_000_000, shipments: 2_000_000}, false},
		// As much again as is there: full.
		{costEstimate{added: 3_000_000, dayRows: 2_000_000, total: 3_000_000, shipments: 2_000_000}, true},
		// A few shipments on old logs: incremental, despite the scan.
		{costEstimate{added: 1_000, dayRows: 10_000, total: 3_000_000, shipments: 2_000_000, oldLogs: true}, false},
		// Small data: the full path's fixed cost dominates.
		{costEstimate{added: 9_000, dayRows: 6_000, total: 30_000, shipments: 20_000}, false},
	} {
		if got := c.est.fullIsCheaper(); got != c.want {
			t.Errorf("%+v: full is cheaper %v, want %v", c.est, got, c.want)
		}
	}
}
