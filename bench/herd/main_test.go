package main

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestHerdRegistersAllAndJitterSpreadsThem runs a small herd on the virtual
// clock: without jitter every device comes back in the same instant, with it
// they spread; either way every device ends registered.
func TestHerdRegistersAllAndJitterSpreadsThem(t *testing.T) {
	const n = 20
	down := 10 * time.Second
	ca, err := newCA()
	if err != nil {
		t.Fatal(err)
	}
	flat, err := herd(n, down, ca, func() float64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	// Each device makes a create and a register once the service is up.
	if peak, _ := flat.peak(down, time.Minute); peak != 2*n {
		t.Errorf("without jitter: peak %d requests per 100 ms after T, want all %d at once", peak, 2*n)
	}
	for _, r := range flat.requests {
		if r > down+time.Minute {
			t.Fatalf("without jitter: a request at %s, long after the service came back at %s", r, down)
		}
	}
	// The runners draw from it at the same time: it needs a lock.
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	spread, err := herd(n, down, ca, func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64()
	})
	if err != nil {
		t.Fatal(err)
	}
	if peak, _ := spread.peak(down, time.Minute); peak >= 2*n || peak < 2 {
		t.Errorf("with jitter: peak %d requests per 100 ms after T, want between 2 and %d", peak, 2*n-1)
	}
	before := 0
	for _, r := range spread.requests {
		if r < down {
			before++
		}
	}
	if before < n {
		t.Errorf("%d requests before T, want at least one per device", before)
	}
}
