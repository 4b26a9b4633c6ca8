package clock

import (
	"sync"
	"time"
)

// Fake is a wall clock, a boot clock and a monotonic clock moved only by a
// test. In auto mode every timer fires at once, moving the clocks by its
// duration, so that a whole backoff sequence runs without sleeping.
type Fake struct {
	mu      sync.Mutex
	wall    time.Time
	boot    time.Duration
	bootID  string
	auto    bool
	timers  []*fakeTimer
	waits   []time.Duration
	armed   chan time.Duration
	onTimer func(d time.Duration, now time.Time)
}

type fakeTimer struct {
	at      time.Duration // on the boot clock
	c       chan time.Time
	stopped bool
	fired   bool
}

// NewFake starts at 2026-11-26 12:00 UTC, an hour after boot "boot-1".
func NewFake(auto bool) *Fake {
	return &Fake{
		wall:   time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		boot:   time.Hour,
		bootID: "boot-1",
		auto:   auto,
		armed:  make(chan time.Duration, 10000),
	}
}

// Now is the wall clock.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

// Boot is the boot clock.
func (c *Fake) Boot() (string, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bootID, c.boot, nil
}

// Elapsed is the boot clock: Jump (an NTP step) does not move it.
func (c *Fake) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boot
}

// OnTimer calls hook, with the wall clock's time, each time a timer is armed.
func (c *Fake) OnTimer(hook func(d time.Duration, now time.Time)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onTimer = hook
}

// NewTimer arms a timer; in auto mode it fires at once.
func (c *Fake) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	hook, now := c.onTimer, c.wall
	c.mu.Unlock()
	if hook != nil {
		hook(d, now)
	}
	t := &fakeTimer{c: make(chan time.Time, 1)}
	c.mu.Lock()
	if c.auto {
		c.wall = c.wall.Add(d)
		c.boot += d
		t.fired = true
		t.c <- c.wall
	} else {
		t.at = c.boot + d
		c.timers = append(c.timers, t)
	}
	c.mu.Unlock()
	c.armed <- d
	return t.c, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped && !t.fired
		t.stopped = true
		return was
	}
}

// Armed receives the duration of each timer armed.
func (c *Fake) Armed() <-chan time.Duration { return c.armed }

// Advance moves both clocks and fires the timers that are due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
	c.boot += d
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case t.at <= c.boot:
			t.fired = true
			t.c <- c.wall
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// Jump moves the wall clock only, like an NTP correction.
func (c *Fake) Jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
}

// Reboot starts a new boot: a new id and a boot clock near zero.
func (c *Fake) Reboot(wallGap time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bootID += "+"
	c.boot = time.Minute
	c.wall = c.wall.Add(wallGap)
}

// Waits lists the durations of every timer armed so far.
func (c *Fake) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
