// Package clock is the daemon's one source of time: the wall clock, timers,
// a monotonic clock that wall-clock steps do not move, and the boot clock
// (time since boot, suspend included) that measures an ownership token's
// age across an NTP correction. Fake stands in for all of them in tests.
package clock

import "time"

// Clock is the wall clock and its timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that fires once after d, and a stop function.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// Monotonic is implemented by a Clock that also measures elapsed time on a
// clock that wall-clock steps do not move.
type Monotonic interface {
	// Elapsed is the time since an arbitrary fixed origin.
	Elapsed() time.Duration
}

// Boot measures time on the boot clock, which wall-clock jumps do not move.
type Boot interface {
	// Boot returns an id that changes at every boot and the time elapsed
	// since boot, suspend included.
	Boot() (id string, sinceBoot time.Duration, err error)
}

// Real is the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// processStart keeps its monotonic reading, so time.Since(processStart)
// ignores wall-clock steps.
var processStart = time.Now()

func (realClock) Elapsed() time.Duration { return time.Since(processStart) }

// ElapsedOf returns c's monotonic clock, or the process's own when c has
// none.
func ElapsedOf(c Clock) func() time.Duration {
	if m, ok := c.(Monotonic); ok {
		return m.Elapsed
	}
	return func() time.Duration { return time.Since(processStart) }
}
