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
		// Measured at 10M: 0.55-0.65 s incremental.
		{"one new day of 10M", costEstimate{added: 13_500, total: 15_000_000, shipments: 10_000_000}, false},
		// Measured at 10M: 1.6-2.5 s incremental.
		{"1% more over every day of 10M", costEstimate{added: 150_000, total: 15_000_000, shipments: 10_000_000}, false},
		// Measured at 10M, each path forced: 11.7 s incremental, 43.4 s full.
		{"10% more of 10M", costEstimate{added: 1_500_000, total: 15_000_000, shipments: 10_000_000}, false},
		// 17.4 s incremental, 49.2 s full.
		{"20% more of 10M", costEstimate{added: 3_000_000, total: 15_000_000, shipments: 10_000_000}, false},
		// 26.9 s incremental, 46.3 s full, but 1.8 GB of RSS incremental.
		{"30% more of 10M", costEstimate{added: 4_500_000, total: 15_000_000, shipments: 10_000_000}, true},
		{"60% more of 10M", costEstimate{added: 9_000_000, total: 15_000_000, shipments: 10_000_000}, true},
		{"as much again as is there", costEstimate{added: 3_000_000, total: 3_000_000, shipments: 2_000_000}, true},
		{"a few shipments on old logs",
			costEstimate{added: 1_000, total: 3_000_000, shipments: 2_000_000, oldLogs: true}, false},
		{"12% more of 2M", costEstimate{added: 360_000, total: 3_000_000, shipments: 2_000_000}, false},
		{"27% more of 2M", costEstimate{added: 800_000, total: 3_000_000, shipments: 2_000_000}, false},
		{"27% more of 2M, on old logs: the scan of every shipment tips it",
			costEstimate{added: 800_000, total: 3_000_000, shipments: 2_000_000, oldLogs: true}, true},
		{"small data: the full path's fixed cost dominates",
			costEstimate{added: 9_000, total: 30_000, shipments: 20_000}, false},
	} {
		if got := c.est.fullIsCheaper(); got != c.want {
			t.Errorf("%s (%+v): full is cheaper %v, want %v", c.name, c.est, got, c.want)
		}
	}
}
