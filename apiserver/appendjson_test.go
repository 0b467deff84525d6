package apiserver

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// detailsOf makes an answer whose every string is s and whose floats are
// f, f scaled, and rounded as answers round them.
func detailsOf(s string, f float64, days int) VehicleDetails {
	d := VehicleDetails{
		Summary: VehicleSummary{VehicleID: s, Name: s + "x", LifetimeMileage: f, TotalTrips: int64(days) - 3,
			PeriodMileage: -f, TotalFuel: f * 1e-9, FuelEfficiency: f * 1e25, DeliveriesCompleted: math.MaxInt64,
			AvgDeliveryTime: r2(f), TotalRevenue: f / 3, RevenuePerTrip: math.Copysign(0, -1), FuelPerTrip: 1e21},
		TopRoutes: []VehicleRouteRow{{Origin: s, Destination: "<&>", RouteTrips: 2, AvgRouteTime: f, AvgRouteRevenue: r2(f)}},
	}
	if days >= 0 {
		d.DailyPerformance = []VehicleDayRow{}
	}
	for i := range days {
		d.DailyPerformance = append(d.DailyPerformance, VehicleDayRow{Date: s, Trips: int64(i), DailyMileage: r2(f * float64(i)),
			DailyFuel: f / float64(i+1), DailyRevenue: -r2(f), DailyDeliveries: int64(-i)})
	}
	return d
}

func checkAppendJSON(t *testing.T, d VehicleDetails) {
	t.Helper()
	want, wantErr := json.Marshal(d)
	got, err := marshal(d)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%+v: error %v, encoding/json's %v", d, err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%s\nencoding/json:\n%s", got, want)
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "V-0001", `a"b`, `a\b`, "<script>&", "a<b", "a>b", "a&b", "tab\there", "\x00\x1f\x7f", "Zürich", "\u2028\u2029",
		"bad \xff utf-8", "日本"}
	floats := []float64{0, 1, -1, 0.1, 2.675, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789.25, math.MaxFloat64,
		math.SmallestNonzeroFloat64, -1e-300, 5e-324, 0.30000000000000004, math.NaN(), math.Inf(1), math.Inf(-1)}
	for _, s := range strs {
		for _, f := range floats {
			checkAppendJSON(t, detailsOf(s, f, 3))
		}
	}
	checkAppendJSON(t, detailsOf("nil days", 1.5, -1))
	nilRoutes := detailsOf("nil routes", 1.5, 0)
	nilRoutes.TopRoutes = nil
	checkAppendJSON(t, nilRoutes)

	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		// Values over the whole range of magnitudes, and as answers round them.
		f := math.Float64frombits(rng.Uint64())
		if rng.IntN(2) == 0 {
			f = r2((rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(16))))
		}
		checkAppendJSON(t, detailsOf(strs[rng.IntN(len(strs))], f, rng.IntN(5)))
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("V-0001", 1.25, 2)
	f.Add("<\xff>", 1e-7, 0)
	f.Add("\u2028", math.Inf(1), 1)
	f.Fuzz(func(t *testing.T, s string, x float64, days int) {
		checkAppendJSON(t, detailsOf(s, x, days%50))
	})
}

func TestAppendDateMatchesFormat(t *testing.T) {
	for _, s := range []string{"0001-01-01", "0999-12-31", "2024-02-29", "2025-10-09", "9999-12-31"} {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, day := range []time.Time{d, d.AddDate(0, 0, 1), d.AddDate(0, 0, -1), d.AddDate(10, 0, 0), d.AddDate(-10, 0, 0)} {
			if got, want := string(appendDate([]byte("x"), day)), "x"+day.Format(time.DateOnly); got != want {
				t.Errorf("appendDate(%v) = %q, want %q", day, got, want)
			}
		}
	}
}
