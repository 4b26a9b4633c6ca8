package fleetsim

import (
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second, bursts up to one second's worth.
type bucket struct {
	rate  float64
	burst float64 // max(rate, 1): a rate below one a second still lets one request through

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate float64, now time.Time) *bucket {
	burst := max(rate, 1)
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// allow takes one token if there is one.
func (b *bucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.tokens+el*b.rate, b.burst)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
