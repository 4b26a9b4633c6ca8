package statemachine

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// A crash during a service call makes the next start wait, and a crash loop
// backs off like failures do.
func TestCrashDuringACallWaitsBeforeCallingAgain(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	var crashes atomic.Int32
	h.svc.onEnter = func(op string) {
		if op == "create" && crashes.Add(1) <= 3 {
			runtime.Goexit()
		}
	}
	for i, want := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second} {
		calls := len(h.svc.Calls())
		h.notify = newFakeNotifier()
		h.start()
		if want > 0 {
			if d := waitArmed(t, h.clock); d != want {
				t.Fatalf("start %d waits %s, want %s", i+1, d, want)
			}
			if n := len(h.svc.Calls()); n != calls {
				t.Fatalf("start %d called the service before its wait", i+1)
			}
			h.clock.Advance(want)
		}
		if i < 3 {
			if err := h.wait(); err != errCrashed {
				t.Fatalf("run %d ended with %v, want a crash in the call", i+1, err)
			}
			st := h.state()
			if st.Attempts != i+1 || st.NextAttemptAt.IsZero() {
				t.Fatalf("after crash %d: attempts %d next %s", i+1, st.Attempts, st.NextAttemptAt)
			}
		}
	}
	h.finish(registeredAs(""))
	if st := checkRegistered(t, h); st.Attempts != 0 || !st.NextAttemptAt.IsZero() {
		t.Errorf("registered with attempts %d next %s", st.Attempts, st.NextAttemptAt)
	}
}
