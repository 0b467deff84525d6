package precalc

import (
	"testing"
	"time"
)

// civil, dayOf and the month helpers agree with the time package on every
// day of four centuries around PostgreSQL's epoch, leap years included.
func TestCalendarMatchesTime(t *testing.T) {
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	// (time.Duration would overflow past 292 years)
	days := func(t time.Time) int32 { return int32((t.Unix() - epoch.Unix()) / 86400) }
	for day := int32(-146097); day <= 146097; day++ {
		want := epoch.AddDate(0, 0, int(day))
		y, m, d := civil(day)
		if y != want.Year() || m != int(want.Month()) || d != want.Day() {
			t.Fatalf("civil(%d) = %d-%d-%d, want %s", day, y, m, d, want.Format(time.DateOnly))
		}
		if got := dayOf(y, m, d); got != day {
			t.Fatalf("dayOf(%d-%d-%d) = %d, want %d", y, m, d, got, day)
		}
		mo := monthOf(day)
		first := days(want.AddDate(0, 0, 1-d))
		if got := monthStart(mo); got != first {
			t.Fatalf("monthStart(monthOf(%s)) = %d, want %d", want.Format(time.DateOnly), got, first)
		}
		jan1 := days(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC))
		if yearOf(mo) != int32(y) || yearStart(yearOf(mo)) != jan1 {
			t.Fatalf("year of %s: %d starting %d, want %d starting %d",
				want.Format(time.DateOnly), yearOf(mo), yearStart(yearOf(mo)), y, jan1)
		}
	}
}
