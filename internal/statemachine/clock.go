package statemachine

import "time"

// BootClock measures time on the boot clock, which wall-clock jumps do not
// move, so that an ownership token's age survives an NTP correction.
type BootClock interface {
	// Boot returns an id that changes at every boot and the time elapsed
	// since boot, suspend included.
	Boot() (id string, sinceBoot time.Duration, err error)
}

// RealClock is the system clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Monotonic is implemented by a Clock that also measures elapsed time on a
// clock that wall-clock steps do not move. A Clock without it is measured
// with the process's own monotonic clock.
type Monotonic interface {
	// Elapsed is the time since an arbitrary fixed origin.
	Elapsed() time.Duration
}

// processStart keeps its monotonic reading, so time.Since(processStart)
// ignores wall-clock steps.
var processStart = time.Now()

func (realClock) Elapsed() time.Duration { return time.Since(processStart) }

func monotonicOf(c Clock) func() time.Duration {
	if m, ok := c.(Monotonic); ok {
		return m.Elapsed
	}
	return func() time.Duration { return time.Since(processStart) }
}
