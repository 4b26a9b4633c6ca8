package statemachine

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/store"
)

// A service that refuses every ownership token must not get a certificate
// request per round trip: each refusal is a counted failure and backs off.
func TestRefusedTokensBackOff(t *testing.T) {
	h := newHarness(t, MethodCSR, true)
	h.svc.fail("register", errToken, errToken, errToken, errToken)
	waits := recordWaits(h)
	h.start()
	h.waitStatus("registered as ")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	st := checkRegistered(t, h)
	if len(st.Orphans) != 4 {
		t.Errorf("%d orphans, want 4", len(st.Orphans))
	}
	got := waits()
	if len(got) != 4 {
		t.Fatalf("%d waits %+v, want one after each of the 4 refusals", len(got), got)
	}
	for i, w := range got {
		n := i + 1
		want := time.Duration(0.5 * float64(time.Second<<i)) // rand 0.5 of the doubling ceiling
		if w.d != want || w.st.Attempts != n || !w.st.NextAttemptAt.Equal(w.now.Add(w.d)) {
			t.Errorf("wait %d: %s, saved attempts %d next %s; want %s, %d", n, w.d, w.st.Attempts, w.st.NextAttemptAt, want, n)
		}
		if prefix := fmt.Sprintf("unprovisioned: RegisterThing retry %d in ", n); !strings.HasPrefix(w.status, prefix) ||
			!strings.Contains(w.status, "InvalidCertificateOwnershipToken") {
			t.Errorf("wait %d: status %q, want %q… naming the refusal", n, w.status, prefix)
		}
	}
}

// A permanent RegisterThing failure outlives the token (1h > 55min): the
// certificate is abandoned by age and a new one requested at once, but the
// count goes on.
func TestPermanentRegisterFailureKeepsTheCount(t *testing.T) {
	h := newHarness(t, MethodCSR, true)
	reg403 := *err403
	reg403.Operation = "RegisterThing"
	h.svc.fail("register", &reg403, &reg403)
	waits := recordWaits(h)
	h.start()
	h.waitStatus("registered as ")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	st := checkRegistered(t, h)
	if len(st.Orphans) != 2 || !strings.Contains(st.Orphans[0].Reason, "ownership token expired") {
		t.Errorf("orphans %+v, want two given up by age", st.Orphans)
	}
	got := waits()
	if len(got) != 2 {
		t.Fatalf("waits %+v, want two of an hour", got)
	}
	for i, w := range got {
		n := i + 1
		want := fmt.Sprintf("cert-pending: RegisterThing retry %d in 1h (403 AccessDenied", n)
		if w.d != time.Hour || w.st.Attempts != n || !strings.HasPrefix(w.status, want) {
			t.Errorf("wait %d: %s attempts %d status %q; want 1h, %d, %q…", n, w.d, w.st.Attempts, w.status, n, want)
		}
	}
}

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
			h.waitStatus("registered as ")
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A crash during a service call makes the next start wait, and a crash loop
// backs off like failures do.
func TestCrashDuringACallWaitsBeforeCallingAgain(t *testing.T) {
	h := newHarness(t, MethodCSR, false)
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
			if d := h.clock.waitArmed(t); d != want {
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
	h.waitStatus("registered as ")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if st := checkRegistered(t, h); st.Attempts != 0 || !st.NextAttemptAt.IsZero() {
		t.Errorf("registered with attempts %d next %s", st.Attempts, st.NextAttemptAt)
	}
}

// A key saved just before a crash, before the state recorded it, is not
// left on disk forever: nothing names it, so its number is reused.
func TestUnnamedIdentityFilesAreCleaned(t *testing.T) {
	h := newHarness(t, MethodCSR, true)
	stray := []byte("stray key nobody names")
	if err := h.files.Write(identityFile(1, keyFileName), stray, KeyFileMode); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitStatus("registered as ")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	st := checkRegistered(t, h)
	if st.Identity != 1 {
		t.Errorf("identity %d, want 1 reused", st.Identity)
	}
	for _, name := range h.files.Names() {
		if data, _ := h.files.Read(name); string(data) == string(stray) {
			t.Errorf("the stray key is still in %s", name)
		}
	}
}

// A failed restore of credentials.json is retried on the backoff timer, not
// on each change the failed write itself makes in the folder.
func TestFailedRestoreRetriesOnTheBackoff(t *testing.T) {
	h, r, points := registeredHarness(t, false)
	var mu sync.Mutex
	tries, failing := 0, true
	h.files.SetWriteHook(func(name string, _ []byte) error {
		if name != store.CredentialsFile {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		tries++
		if failing {
			return errors.New("disk full")
		}
		return nil
	})
	if err := h.files.Remove(store.CredentialsFile); err != nil {
		t.Fatal(err)
	}
	r.HandoffChanged()
	if d := h.clock.waitArmed(t); d != 500*time.Millisecond {
		t.Fatalf("retry armed in %s, want the first backoff (500ms)", d)
	}
	r.HandoffChanged() // the failed write's own traces
	h.clock.Advance(500 * time.Millisecond)
	if d := h.clock.waitArmed(t); d != time.Second {
		t.Fatalf("second retry armed in %s, want 1s", d)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	h.clock.Advance(time.Second)
	waitPoint(t, points, PointRestored)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries != 3 {
		t.Errorf("%d writes of credentials.json, want 3: one per backoff step", tries)
	}
}
