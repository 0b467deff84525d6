package apiserver

import (
	"math"
	"math/big"
	"unicode"
	"unicode/utf8"
)

// The numeric rules of docs/api.md#13-numbers: figures are computed unrounded and
// rounded only when a response field is filled; every division is guarded.

// r2 rounds x to 2 decimals (docs/api.md#13-numbers).
func r2(x float64) float64 { return roundTo(x, 100) }

// r1 rounds x to 1 decimal (docs/api.md#13-numbers).
func r1(x float64) float64 { return roundTo(x, 10) }

// fastRoundLimit bounds the magnitudes roundTo handles in float64: below it
// x·scale stays under 2^50, so the error of that product is far below 1/4
// and the decision is exact (see roundTo).
const fastRoundLimit = 1e13

// roundTo returns the float64 nearest to the exact value of x rounded to
// 1/scale (scale 10 or 100), ties away from zero. It is exact: 2.675, whose
// float64 is just below 2.675, gives 2.67, and 0.125 gives 0.13. NaN and
// infinities give 0, and the result is never negative zero.
func roundTo(x, scale float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	a := math.Abs(x)
	var v float64
	switch {
	case a < 0.25/scale:
		// Rounds to 0; this also keeps the products below clear of
		// underflow.
		return 0
	case a < fastRoundLimit:
		// An integer below 2^50 divided by scale: the float64 nearest to
		// the decimal.
		v = roundScaled(a, scale) / scale
	default:
		v = roundBig(a, scale)
	}
	if v == 0 {
		return 0
	}
	if x < 0 {
		return -v
	}
	return v
}

// roundScaled returns round-half-up(a·scale) for 0 < a < fastRoundLimit,
// exactly. y = fl(a·scale) and e = a·scale − y (exact, by FMA) represent
// the product exactly. With f = ⌊y⌋, r = y − f is exact (Sterbenz, or
// f = 0), and the product's fraction is r + e, which lies in (−1/4, 5/4):
// the result is f + 1 exactly when r − 1/2 + e ≥ 0. r − 1/2 is exact for
// r ≥ 1/4 (Sterbenz), and for r < 1/4 the sum is negative anyway.
func roundScaled(a, scale float64) float64 {
	y := a * scale
	e := math.FMA(a, scale, -y)
	f := math.Floor(y)
	r := y - f
	if r < 0.25 {
		return f
	}
	if r-0.5 >= -e {
		return f + 1
	}
	return f
}

// roundBig is roundTo for any finite a ≥ 0, through the exact rational
// value of a.
func roundBig(a, scale float64) float64 {
	q := new(big.Rat).SetFloat64(a)
	sc := new(big.Rat).SetFloat64(scale)
	q.Mul(q, sc)
	whole, rem := new(big.Int).QuoRem(q.Num(), q.Denom(), new(big.Int))
	if rem.Lsh(rem, 1).Cmp(q.Denom()) >= 0 {
		whole.Add(whole, big.NewInt(1))
	}
	v, _ := q.SetFrac(whole, sc.Num()).Float64()
	return v
}

// div is num / den, or 0 when den is 0 (docs/api.md#13-numbers).
func div(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

// percentile is the continuous percentile f (0..1) of values sorted
// ascending (docs/api.md#37-get-apiroutecost-value): v_i + (h − i)(v_{i+1} − v_i) with h = f·(k − 1)
// and i = ⌊h⌋; v_i itself when i is the last index. It is 0 for no values.
func percentile(sorted []float64, f float64) float64 {
	k := len(sorted)
	if k == 0 {
		return 0
	}
	h := f * float64(k-1)
	i := int(math.Floor(h))
	if i < 0 {
		return sorted[0]
	}
	if i >= k-1 {
		return sorted[k-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

// foldString maps s to a key under which two strings are equal exactly
// when they are equal under Unicode simple case folding: every rune is
// replaced by the smallest rune of its case-folding orbit. It keeps the
// rune count, so substring matches of keys are substring matches of the
// strings.
func foldString(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	buf := make([]byte, 0, len(s))
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			buf = append(buf, c)
		}
		return string(buf)
	}
	for _, r := range s {
		buf = utf8.AppendRune(buf, foldRune(r))
	}
	return string(buf)
}

// foldRune is the smallest rune of r's simple case-folding orbit ('A' for
// 'a', 'K' for the Kelvin sign).
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}
