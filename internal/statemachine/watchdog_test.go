package statemachine

import (
	"testing"
	"time"
)

// An NTP step while a step is in progress neither stops the watchdog early
// nor keeps it fed past the step's budget.
func TestWatchdogIgnoresWallClockSteps(t *testing.T) {
	for _, jump := range []time.Duration{10 * 365 * 24 * time.Hour, -10 * 365 * 24 * time.Hour} {
		t.Run(jump.String(), func(t *testing.T) {
			h := newHarness(t, MethodCSR, false)
			h.settings.WatchdogInterval = 10 * time.Second
			release := make(chan struct{})
			h.svc.block["register"] = release
			h.start()
			for op := range h.svc.entered {
				if op == "register" {
					break
				}
			}
			h.clock.Jump(jump)
			for i := 1; i <= 20; i++ {
				h.clock.waitArmed(t)
				h.clock.Advance(10 * time.Second)
			}
			h.clock.waitArmed(t) // the 20th interval has been judged
			if _, _, n := h.notify.counts(); n != 13 {
				t.Errorf("fed %d times in 200s of a hung step after a %s wall-clock step, want 13 (130s budget)", n, jump)
			}
			close(release)
			h.finish("registered as ")
		})
	}
}
