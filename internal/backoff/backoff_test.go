package backoff

import (
	"testing"
	"time"
)

// TestDoublesUpToTheCapWithJitter: each wait lies between the doubled
// value, capped, and that value plus the jitter; Reset starts over.
func TestDoublesUpToTheCapWithJitter(t *testing.T) {
	const first, most = time.Second, 30 * time.Second
	b := New(first, most)
	for round := range 2 {
		want := first
		for attempt := range 20 {
			got := b.Next()
			if got < want || float64(got) > float64(want)*(1+Jitter) {
				t.Fatalf("round %d, attempt %d: wait %s, want %s to %s", round, attempt, got, want,
					time.Duration(float64(want)*(1+Jitter)))
			}
			want = min(2*want, most)
		}
		b.Reset()
	}
}
