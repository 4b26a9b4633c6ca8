package fleetsim

import (
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second, bursts up to one second's worth.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, now time.Time) *bucket {
	burst := rate
	if burst < 1 {
		burst = 1
	}
	return &bucket{rate: rate, tokens: burst, last: now}
}

// allow takes one token if there is one.
func (b *bucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	burst := b.rate
	if burst < 1 {
		burst = 1
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * b.rate
		if b.tokens > burst {
			b.tokens = burst
		}
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
