package apiserver

import (
	"cmp"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestR2(t *testing.T) {
	for _, tc := range []struct {
		x, want float64
	}{
		{0, 0},
		{1, 1},
		{0.125, 0.13},   // exact tie: away from zero
		{-0.125, -0.13}, // exact tie, negative
		{0.375, 0.38},
		{2.675, 2.67}, // the float64 is 2.67499999999999982236431605997495353221893310546875
		{-2.675, -2.67},
		{1.005, 1},    // 1.00499999999999989...
		{0.005, 0.01}, // 0.005000000000000000104...
		{0.015, 0.01}, // 0.01499999999999999944...
		{0.045, 0.04}, // 0.04499999999999999833...
		{1234.5678, 1234.57},
		{-1234.5678, -1234.57},
		{99.995, 100}, // 99.99500000000000454...
		{0.0049999, 0},
		{-0.0049999, 0},
		{1e300, 1e300},
		{-1e300, -1e300},
		{math.MaxFloat64, math.MaxFloat64},
		{123456789012.345, 123456789012.35}, // the float64 is ...012.34500122...
		{1e15 + 0.125, 1e15 + 0.125},        // 1e15 + 0.13 is nearest to 1e15 + 0.125
		{4503599627370495.5, 4503599627370495.5},
		{math.SmallestNonzeroFloat64, 0},
		{math.NaN(), 0},
		{math.Inf(1), 0},
		{math.Inf(-1), 0},
	} {
		want := tc.want
		got := r2(tc.x)
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Errorf("r2(%v) = %v, want %v", tc.x, got, want)
		}
		if !math.IsNaN(tc.x) && !math.IsInf(tc.x, 0) {
			if ref := refRound(tc.x, 2); ref != want {
				t.Errorf("reference rounding of %v = %v, want %v", tc.x, ref, want)
			}
		}
	}
}

func TestR1(t *testing.T) {
	for _, tc := range []struct {
		x, want float64
	}{
		{0.25, 0.3}, // exact tie
		{-0.25, -0.3},
		{0.35, 0.3}, // 0.34999999999999997779...
		{0.45, 0.5}, // 0.45000000000000001110...
		{2.675, 2.7},
		{-12.04, -12},
		{33.333333, 33.3},
		{-100, -100},
		{0.04, 0},
		{-0.04, 0},
		{1e20 + 0.5, 1e20},
	} {
		got := r1(tc.x)
		if got != tc.want || math.Signbit(got) != math.Signbit(tc.want) {
			t.Errorf("r1(%v) = %v, want %v", tc.x, got, tc.want)
		}
		if ref := refRound(tc.x, 1); ref != tc.want {
			t.Errorf("reference rounding of %v = %v, want %v", tc.x, ref, tc.want)
		}
	}
}

func TestRoundingNegativeZero(t *testing.T) {
	for _, x := range []float64{math.Copysign(0, -1), -1e-9, -0.001, -0.0049} {
		if got := r2(x); got != 0 || math.Signbit(got) {
			t.Errorf("r2(%v) = %v (sign bit %v), want +0", x, got, math.Signbit(got))
		}
		if got := r1(x); got != 0 || math.Signbit(got) {
			t.Errorf("r1(%v) = %v (sign bit %v), want +0", x, got, math.Signbit(got))
		}
	}
}

// TestRoundingMatchesExactDecimal checks the float64 fast path and the
// rational path against rounding of the exact decimal expansion, on random
// values of every magnitude and on the float64s around every kind of tie.
func TestRoundingMatchesExactDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var xs []float64
	for range 3_000 {
		// Log-uniform magnitudes from 1e-4 to 1e17.
		xs = append(xs, math.Pow(10, -4+21*rng.Float64()))
		// Cents and tenths, the ties of data entered by hand.
		k := float64(rng.Int64N(1e12))
		for _, tie := range []float64{(k + 0.5) / 100, (k + 0.5) / 10, (k*10 + 5) / 1000} {
			xs = append(xs, tie, math.Nextafter(tie, 0), math.Nextafter(tie, math.Inf(1)))
		}
	}
	// Around the fast path's limit.
	for i := -1000; i <= 1000; i++ {
		xs = append(xs, fastRoundLimit+float64(i)/256)
	}
	for _, x := range xs {
		for _, sign := range []float64{1, -1} {
			x := sign * x
			for _, d := range []int{1, 2} {
				scale := math.Pow(10, float64(d))
				got, want := roundTo(x, scale), refRound(x, d)
				if got != want {
					t.Fatalf("round %v (%s) to %d decimals: %v, want %v", x, exact(x), d, got, want)
				}
				if a := math.Abs(x); a >= 0.25/scale {
					if b := roundBig(a, scale); b != math.Abs(want) {
						t.Fatalf("rational rounding of %v to %d decimals: %v, want %v", a, d, b, math.Abs(want))
					}
				}
			}
		}
	}
}

// refRound rounds the exact decimal expansion of x to d decimals, ties away
// from zero, by string arithmetic, and parses the result: the float64
// nearest to the rounded decimal, +0 for zero.
func refRound(x float64, d int) float64 {
	s := exact(x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", d+1)
	digits := []byte(intPart + frac[:d])
	if frac[d] >= '5' {
		// Add one unit in the last place.
		i := len(digits) - 1
		for ; i >= 0 && digits[i] == '9'; i-- {
			digits[i] = '0'
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		} else {
			digits[i]++
		}
	}
	n, _ := new(big.Int).SetString(string(digits), 10)
	r := new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil))
	v, _ := r.Float64()
	if neg && v != 0 {
		v = -v
	}
	return v
}

// exact is the exact decimal expansion of x: a float64 of magnitude at
// least 2^-17 has no bit below 2^-69, so no digit past the 69th decimal;
// smaller ones may need up to 1074.
func exact(x float64) string {
	digits := 1074
	if math.Abs(x) >= 0x1p-17 {
		digits = 69
	}
	return new(big.Float).SetFloat64(x).Text('f', digits)
}

func TestDiv(t *testing.T) {
	for _, tc := range []struct{ num, den, want float64 }{
		{1, 2, 0.5},
		{1, 0, 0},
		{0, 0, 0},
		{-3, 0, 0},
		{-3, 4, -0.75},
	} {
		if got := div(tc.num, tc.den); got != tc.want {
			t.Errorf("div(%v, %v) = %v, want %v", tc.num, tc.den, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		values []float64
		f      float64
		want   float64
	}{
		{nil, 0.33, 0},
		{[]float64{7}, 0.33, 7},
		{[]float64{7}, 0.66, 7},
		{[]float64{1, 2, 3, 4}, 0, 1},
		{[]float64{1, 2, 3, 4}, 0.33, 1.99}, // h = 0.99
		{[]float64{1, 2, 3, 4}, 0.66, 2.98}, // h = 1.98
		{[]float64{1, 2, 3, 4}, 1, 4},
		{[]float64{10, 20}, 0.5, 15},
		{[]float64{0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}, 0.33, 330}, // h = 3.3
		{[]float64{-5, -5, -5}, 0.66, -5},
	} {
		if got := percentile(tc.values, tc.f); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.values, tc.f, got, tc.want)
		}
	}
}

func TestFoldString(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"Ramirezstad", "RAMIREZSTAD", true},
		{"ramirezstad", "Ramirezstad", true},
		{"k", "\u212a", true}, // Kelvin sign
		{"s", "\u017f", true}, // long s
		{"σ", "Σ", true},      // sigma
		{"ς", "Σ", true},      // final sigma
		{"ÉCOLE", "école", true},
		{"Straße", "STRASSE", false}, // full folding only
		{"a", "b", false},
		{"%_\\", "%_\\", true},
	} {
		if got := foldString(tc.a) == foldString(tc.b); got != tc.same {
			t.Errorf("fold(%q) == fold(%q): %v, want %v", tc.a, tc.b, got, tc.same)
		}
		if got := strings.EqualFold(tc.a, tc.b); got != tc.same {
			t.Errorf("strings.EqualFold(%q, %q) = %v, the test expects %v", tc.a, tc.b, got, tc.same)
		}
	}
}

// firstN keeps what a full sort and cut would, ties and short lists included.
func TestFirstN(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	byValueThenName := func(a, b [2]int) int { return cmp.Or(cmp.Compare(b[0], a[0]), cmp.Compare(a[1], b[1])) }
	for i := range 2000 {
		rows := make([][2]int, rng.IntN(30))
		for j := range rows {
			rows[j] = [2]int{rng.IntN(6), j}
		}
		n := i % 8
		want := slices.Clone(rows)
		slices.SortFunc(want, byValueThenName)
		want = want[:min(n, len(want))]
		if got := firstN(rows, n, byValueThenName); !slices.Equal(got, want) {
			t.Fatalf("first %d of %v: %v, want %v", n, rows, got, want)
		}
	}
}
