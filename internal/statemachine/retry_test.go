package statemachine

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/store"
)

// waitCheck records, at each wait, what the state file and status said.
type waitCheck struct {
	d      time.Duration
	now    time.Time
	st     store.State
	status string
}

func recordWaits(h *harness) func() []waitCheck {
	var mu sync.Mutex
	var got []waitCheck
	h.clock.OnTimer(func(d time.Duration, now time.Time) {
		st, err := store.LoadState(h.files)
		if err != nil {
			h.t.Errorf("state at wait: %v", err)
		}
		statuses := h.notify.Statuses()
		mu.Lock()
		got = append(got, waitCheck{d: d, now: now, st: st, status: statuses[len(statuses)-1]})
		mu.Unlock()
	})
	return func() []waitCheck {
		mu.Lock()
		defer mu.Unlock()
		return append([]waitCheck(nil), got...)
	}
}

func TestTransientBackoffFullJitter(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	h.settings.Retry.Initial = time.Second
	h.settings.Retry.Max = 8 * time.Second
	draws := []float64{0.9, 0.1, 1, 0.5, 0.25, 0.7}
	var mu sync.Mutex
	h.rand = func() float64 {
		mu.Lock()
		defer mu.Unlock()
		f := draws[0]
		draws = draws[1:]
		return f
	}
	h.svc.fail("register", err503, err503, err503, err503, err503)
	h.svc.fail("prove", fleet.ErrConnectionLost)
	waits := recordWaits(h)
	h.provision(registeredAs(""))

	// The ceiling doubles from Initial to Max; success resets it.
	ceilings := []time.Duration{1, 2, 4, 8, 8, 1}
	jitter := []float64{0.9, 0.1, 1, 0.5, 0.25, 0.7}
	attempts := []int{1, 2, 3, 4, 5, 1}
	got := waits()
	if len(got) != len(ceilings) {
		t.Fatalf("%d waits %v, want %d", len(got), got, len(ceilings))
	}
	for i, w := range got {
		ceiling := ceilings[i] * time.Second
		want := time.Duration(jitter[i] * float64(ceiling))
		if w.d != want || w.d < 0 || w.d > ceiling {
			t.Errorf("wait %d = %s, want %s within [0, %s]", i+1, w.d, want, ceiling)
		}
		// Persisted before waiting, so a restart cannot hammer the service.
		if w.st.Attempts != attempts[i] || !w.st.NextAttemptAt.Equal(w.now.Add(w.d)) {
			t.Errorf("wait %d: saved attempts %d next %s; want %d and %s",
				i+1, w.st.Attempts, w.st.NextAttemptAt, attempts[i], w.now.Add(w.d))
		}
		if w.st.LastError == "" || !strings.Contains(w.status, "retry") {
			t.Errorf("wait %d: lastError %q status %q", i+1, w.st.LastError, w.status)
		}
	}
	if !strings.Contains(got[0].st.LastError, "503 InternalFailure") {
		t.Errorf("lastError %q does not name the rejection", got[0].st.LastError)
	}
	if want := "cert-pending: RegisterThing retry 1 in 1s (503 InternalFailure: try later)"; got[0].status != want {
		t.Errorf("status %q, want %q", got[0].status, want)
	}
}

func TestPermanentFailureWaitsTheLongCap(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	h.svc.fail("create", err403)
	waits := recordWaits(h)
	h.provision(registeredAs(""))
	got := waits()
	if len(got) != 1 || got[0].d != time.Hour {
		t.Fatalf("waits %+v, want one of an hour", got)
	}
	w := got[0]
	if w.st.Attempts != 1 || w.st.LastError != "CreateCertificateFromCsr: 403 AccessDenied: template disabled" {
		t.Errorf("saved attempts %d lastError %q", w.st.Attempts, w.st.LastError)
	}
	if want := "unprovisioned: CreateCertificateFromCsr retry 1 in 1h (403 AccessDenied: template disabled)"; w.status != want {
		t.Errorf("status %q, want %q", w.status, want)
	}
}

func TestClockFailuresDoNotCountAttempts(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	h.svc.fail("dial", errClock, errClock, fleet.ErrConnectionLost)
	waits := recordWaits(h)
	h.provision(registeredAs(""))
	got := waits()
	if len(got) != 3 {
		t.Fatalf("waits %+v, want 3", got)
	}
	for i, w := range got[:2] {
		if w.d != clockRetry || w.st.Attempts != 0 || w.st.LastErrorKind != "clock" {
			t.Errorf("clock wait %d: %s, attempts %d, kind %q", i+1, w.d, w.st.Attempts, w.st.LastErrorKind)
		}
		if !strings.HasPrefix(w.status, "unprovisioned: waiting for a plausible clock, next check in 30s") {
			t.Errorf("status %q", w.status)
		}
	}
	// The first failure the service is to blame for is attempt 1.
	if w := got[2]; w.st.Attempts != 1 || w.st.LastErrorKind != "transient" || w.d != 500*time.Millisecond {
		t.Errorf("transient wait after clock waits: %s, attempts %d, kind %q", w.d, w.st.Attempts, w.st.LastErrorKind)
	}
}

func TestKickRetriesAtOnce(t *testing.T) {
	for _, waiting := range []error{err403, errClock, err503} {
		t.Run(waiting.Error(), func(t *testing.T) {
			h := newHarness(t, MethodCSR, testClock)
			h.settings.Retry.Initial = time.Minute
			h.svc.fail("create", waiting)
			start := h.clock.Now()
			r := h.start()
			if d := waitArmed(t, h.clock); d <= 0 {
				t.Fatalf("armed %s", d)
			}
			r.Kick()
			h.finish(registeredAs(""))
			checkRegistered(t, h)
			if !h.clock.Now().Equal(start) {
				t.Error("time had to pass: the kick did not retry at once")
			}
		})
	}
}

func TestRestartHonoursNextAttemptAt(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // NextAttemptAt - now at start
		want  time.Duration // 0: no wait
	}{
		{"unexpired", 2 * time.Minute, 2 * time.Minute},
		// A permanent failure's wait survives a restart; a wall clock far
		// ahead cannot wedge the daemon beyond the longest wait.
		{"permanent wait kept", 50 * time.Minute, 50 * time.Minute},
		{"capped at max(Retry.Max, Retry.Permanent)", 10 * 24 * time.Hour, time.Hour},
		{"expired", -time.Minute, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, MethodCSR, testClock)
			err := store.SaveState(h.files, store.State{
				Version: store.StateVersion, Phase: store.Unprovisioned, Identity: 1,
				Attempts: 3, LastError: "connect: connection lost", NextAttemptAt: h.clock.Now().Add(tc.after),
			})
			if err != nil {
				t.Fatal(err)
			}
			h.start()
			if tc.want > 0 {
				if d := waitArmed(t, h.clock); d != tc.want {
					t.Fatalf("first wait %s, want %s", d, tc.want)
				}
				if n := len(h.svc.Calls()); n != 0 {
					t.Fatalf("%d calls before the saved retry time", n)
				}
				h.clock.Advance(tc.want)
			}
			h.finish(registeredAs(""))
			checkRegistered(t, h)
			if tc.want == 0 && len(h.clock.Waits()) != 0 {
				t.Errorf("waited %v for an expired retry time", h.clock.Waits())
			}
		})
	}
}

func TestStopWhileWaiting(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.svc.fail("create", err403)
	h.start()
	waitArmed(t, h.clock)
	if err := h.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	st := h.state()
	if st.Phase != unprov || st.Attempts != 1 || st.NextAttemptAt.IsZero() || st.KeyFile == "" {
		t.Errorf("state after stop: %+v", st)
	}
}
