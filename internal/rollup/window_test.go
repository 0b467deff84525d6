package rollup

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/haul-dev/haul/internal/db"
)

func d(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSpans(t *testing.T) {
	tests := []struct {
		name       string
		start, end string
		want       []Span
	}{
		{"one day", "2024-02-10", "2024-02-10", []Span{{db.GrainDay, d("2024-02-10"), d("2024-02-10")}}},
		{"empty", "2024-02-10", "2024-02-09", nil},
		{"days inside a month", "2024-02-01", "2024-02-28", []Span{{db.GrainDay, d("2024-02-01"), d("2024-02-28")}}},
		{"whole leap February", "2024-02-01", "2024-02-29", []Span{{db.GrainMonth, d("2024-02-01"), d("2024-02-01")}}},
		{"days across a month end", "2024-01-20", "2024-02-10", []Span{{db.GrainDay, d("2024-01-20"), d("2024-02-10")}}},
		{"whole year", "2023-01-01", "2023-12-31", []Span{{db.GrainYear, d("2023-01-01"), d("2023-01-01")}}},
		{"all shapes", "2021-11-15", "2025-03-03", []Span{
			{db.GrainDay, d("2021-11-15"), d("2021-11-30")},
			{db.GrainMonth, d("2021-12-01"), d("2021-12-01")},
			{db.GrainYear, d("2022-01-01"), d("2024-01-01")},
			{db.GrainMonth, d("2025-01-01"), d("2025-02-01")},
			{db.GrainDay, d("2025-03-01"), d("2025-03-03")},
		}},
		{"year minus its last day", "2023-01-01", "2023-12-30", []Span{
			{db.GrainMonth, d("2023-01-01"), d("2023-11-01")},
			{db.GrainDay, d("2023-12-01"), d("2023-12-30")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Window{Start: d(tt.start), End: d(tt.end)}.Spans()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Spans() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Every day of a window is covered by exactly one span, and no day outside it.
func TestSpansCoverEachDayOnce(t *testing.T) {
	start := d("2019-12-25")
	for i := 0; i < 900; i += 7 {
		for _, length := range []int{0, 1, 27, 31, 58, 200, 366, 800} {
			w := Window{Start: start.AddDate(0, 0, i), End: start.AddDate(0, 0, i+length)}
			seen := map[time.Time]int{}
			for _, s := range w.Spans() {
				for p := s.From; !p.After(s.To); {
					next := p.AddDate(0, 0, 1)
					switch s.Grain {
					case db.GrainMonth:
						next = p.AddDate(0, 1, 0)
					case db.GrainYear:
						next = p.AddDate(1, 0, 0)
					}
					for x := p; x.Before(next); x = x.AddDate(0, 0, 1) {
						seen[x]++
					}
					p = next
				}
			}
			for x := w.Start; !x.After(w.End); x = x.AddDate(0, 0, 1) {
				if seen[x] != 1 {
					t.Fatalf("%v: day %s covered %d times, want once", w, x.Format("2006-01-02"), seen[x])
				}
				delete(seen, x)
			}
			if len(seen) != 0 {
				t.Fatalf("%v: covers days outside the window: %v", w, seen)
			}
		}
	}
}

// SDDT's 64-bit path agrees with its exact one.
func TestSDDT(t *testing.T) {
	slow := func(s Stats) float64 {
		num := new(big.Int).Mul(big.NewInt(s.Shipments), s.SumDT2)
		num.Sub(num, new(big.Int).Mul(big.NewInt(s.SumDT), big.NewInt(s.SumDT)))
		if s.Shipments < 2 || num.Sign() <= 0 {
			return 0
		}
		v, _ := new(big.Float).SetPrec(200).Quo(new(big.Float).SetInt(num),
			big.NewFloat(float64(s.Shipments)*float64(s.Shipments-1))).Float64()
		return math.Sqrt(v)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		// Histograms of delivery times from a few hours to the int32 limit.
		var s Stats
		s.SumDT2 = new(big.Int)
		top := []int64{3, 50, 1 << 16, 1 << 31}[i%4]
		for range 1 + rng.IntN(20) {
			dt, n := 1+rng.Int64N(top-1), 1+rng.Int64N(1000)
			s.Shipments += n
			s.SumDT += dt * n
			s.SumDT2.Add(s.SumDT2, new(big.Int).Mul(big.NewInt(dt*dt), big.NewInt(n)))
		}
		if got, want := s.SDDT(), slow(s); got != want {
			t.Fatalf("%+v: SDDT %v, want %v", s, got, want)
		}
	}
}
