package statemachine

import (
	"testing"
	"time"
)

// startHungInRegister starts a Runner fed to a 10s watchdog whose
// RegisterThing call hangs until release is closed, and returns once the
// call is entered. The step's budget is 4×30s + 10s = 130s.
func startHungInRegister(t *testing.T) (h *harness, release chan struct{}) {
	t.Helper()
	h = newHarness(t, MethodCSR, testClock)
	h.settings.WatchdogInterval = 10 * time.Second
	release = make(chan struct{})
	h.svc.block["register"] = release
	h.start()
	for op := range h.svc.entered {
		if op == "register" {
			break
		}
	}
	return h, release
}

// passWatchdogIntervals moves the clock through n watchdog intervals of 10s
// and returns once the last has been judged (the next one is armed).
func (h *harness) passWatchdogIntervals(n int) {
	h.t.Helper()
	for range n {
		waitArmed(h.t, h.clock)
		h.clock.Advance(10 * time.Second)
	}
	waitArmed(h.t, h.clock)
}

func TestWatchdogWhileIdle(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.settings.WatchdogInterval = 10 * time.Second
	h.start()
	h.waitSaved(registeredAs(""))
	for i := 1; i <= 3; i++ {
		if d := waitArmed(t, h.clock); d != 10*time.Second {
			t.Fatalf("armed %s, want the watchdog interval", d)
		}
		h.clock.Advance(10 * time.Second)
		select {
		case <-h.notify.dogs:
		case <-time.After(10 * time.Second):
			t.Fatalf("no watchdog after %d intervals", i)
		}
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if _, dogs := h.notify.counts(); dogs != 3 {
		t.Errorf("%d watchdog notifications for 3 intervals", dogs)
	}
}

func TestWatchdogStopsWhenAStepHangs(t *testing.T) {
	h, release := startHungInRegister(t)
	fed := func() int { _, n := h.notify.counts(); return n }
	h.passWatchdogIntervals(20)
	if n := fed(); n != 13 {
		t.Errorf("fed %d times in 200s of a hung step, want 13 (130s budget)", n)
	}
	close(release)
	h.waitSaved(registeredAs(""))
	// The step ends just after the status: keep the intervals coming until
	// the runner is back in its loop.
	deadline := time.Now().Add(10 * time.Second)
	for fed() == 13 && time.Now().Before(deadline) {
		h.clock.Advance(10 * time.Second)
		waitArmed(t, h.clock)
	}
	if n := fed(); n != 14 {
		t.Errorf("fed %d times, want feeding to resume once the loop is alive", n)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}

// An NTP step while a step is in progress neither stops the watchdog early
// nor keeps it fed past the step's budget.
func TestWatchdogIgnoresWallClockSteps(t *testing.T) {
	for _, jump := range []time.Duration{10 * 365 * 24 * time.Hour, -10 * 365 * 24 * time.Hour} {
		t.Run(jump.String(), func(t *testing.T) {
			h, release := startHungInRegister(t)
			h.clock.Jump(jump)
			h.passWatchdogIntervals(20)
			if _, n := h.notify.counts(); n != 13 {
				t.Errorf("fed %d times in 200s of a hung step after a %s wall-clock step, want 13 (130s budget)", n, jump)
			}
			close(release)
			h.finish(registeredAs(""))
		})
	}
}
