package demo

import (
	"testing"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/rollup"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestSummaryString(t *testing.T) {
	for _, tc := range []struct {
		s    Summary
		want string
	}{
		{Summary{}, "all time: 0 shipments on 0 trips by 0 vehicles, 0 routes, cost 0.00, mean delivery time 0.00 h"},
		{Summary{Totals: rollup.Totals{
			Stats: rollup.Stats{Shipments: 3, SumCost: 1234.567, SumDT: 10},
			Logs:  2, Vehicles: 1,
		}, Routes: 2}, "all time: 3 shipments on 2 trips by 1 vehicles, 2 routes, cost 1234.57, mean delivery time 3.33 h"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

// Aggregates not built yet read as nothing, not as an error.
func TestReadSummaryOfEmptyAggregates(t *testing.T) {
	pool := dbtest.Pool(t, dbtest.New(t))
	s, err := ReadSummary(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if s.Shipments != 0 || s.Logs != 0 || s.Vehicles != 0 || s.Routes != 0 {
		t.Errorf("empty aggregates: %+v", s)
	}
}
