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
