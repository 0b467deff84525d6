// Package backoff spaces out retries: the wait doubles from a first value up
// to a cap, with jitter so that many clients retrying at once spread out.
// It is apimachinery's wait.Backoff with the settings every Haul retry
// loop shares, and a reset for loops that succeed in between.
package backoff

import (
	"math"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Jitter is the most a wait is lengthened by chance, as a share of it.
const Jitter = 0.25

// Backoff is the waits of one retry loop; not safe for concurrent use.
type Backoff struct {
	initial, cur wait.Backoff
}

// New waits first, then twice as long each time, up to most; each wait is
// lengthened by up to Jitter at random, so a wait never exceeds
// most × (1 + Jitter).
func New(first, most time.Duration) *Backoff {
	b := wait.Backoff{Duration: first, Factor: 2, Jitter: Jitter, Steps: math.MaxInt32, Cap: most}
	return &Backoff{initial: b, cur: b}
}

// Next is the wait before the next attempt.
func (b *Backoff) Next() time.Duration { return b.cur.Step() }

// Reset starts again from the first wait, after a success.
func (b *Backoff) Reset() { b.cur = b.initial }
