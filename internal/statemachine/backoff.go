package statemachine

import (
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter: the n-th
// consecutive failure waits a uniform random time in [0, min(max,
// initial·2^(n-1))]. Full jitter spreads a fleet of devices that failed
// together (a service outage) instead of bringing them back in waves.
// The failure count lives in the persisted state, so a restart resumes the
// sequence instead of starting again from the shortest wait.
type backoff struct {
	initial, max time.Duration
	rand         func() float64
}

func newBackoff(initial, max time.Duration, rnd func() float64) *backoff {
	if rnd == nil {
		rnd = rand.Float64
	}
	return &backoff{initial: initial, max: max, rand: rnd}
}

// ceiling is the longest wait after the n-th consecutive failure (n ≥ 1).
func (b *backoff) ceiling(n int) time.Duration {
	c := b.initial
	for i := 1; i < n && c < b.max; i++ {
		c *= 2
	}
	return min(c, b.max)
}

// delay is the jittered wait after the n-th consecutive failure.
func (b *backoff) delay(n int) time.Duration {
	f := min(max(b.rand(), 0), 1)
	return time.Duration(f * float64(b.ceiling(n)))
}
