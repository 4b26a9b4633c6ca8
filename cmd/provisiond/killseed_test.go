package main

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"
)

var killSeed = flag.Uint64("kill-seed", 0, "replay the SIGKILL tests' random kill instants from this seed (0: a new one)")

// killInstants is the source of a kill test's random instants. Its seed is
// logged, so that a failure can be replayed with -kill-seed.
func killInstants(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *killSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("kill instants from seed %d (replay: go test -run '^%s$' ./cmd/provisiond/ -kill-seed %d)", seed, t.Name(), seed)
	return rand.New(rand.NewPCG(seed, seed))
}
