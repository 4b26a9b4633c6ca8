package statemachine

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/rotation"
	"github.com/provisiond/provisiond/internal/store"
)

// crashScenario is a provisioning story in which a crash is injected.
type crashScenario struct {
	name   string
	method string
	faults map[string][]error
	// reprovision starts from a registered device and asks for a new identity.
	reprovision bool
	// rotate (with reprovision) gets the new identity from the rotation
	// policy instead of a request: the rotation timer is fired.
	rotate bool
	// orphans is how many certificates the story gives up without a crash.
	orphans int
	// token keeps the keys in a token-like store (keystore.Memory): each
	// key is recorded before it is made, and has no file.
	token bool
}

func crashScenarios() []crashScenario {
	var out []crashScenario
	for _, m := range []string{MethodCSR, MethodCreateKeys} {
		out = append(out,
			crashScenario{name: m + "/clean", method: m},
			crashScenario{name: m + "/token refused", method: m, faults: map[string][]error{"register": {errToken}}, orphans: 1},
			crashScenario{name: m + "/transient failures", method: m, faults: map[string][]error{"register": {err503}, "prove": {err503}}},
			crashScenario{name: m + "/reprovision", method: m, reprovision: true, orphans: 1},
			// A crash at PointOrphaned leaves the refused identity's files
			// behind; the handoff must still keep the identity the previous
			// credentials.json named, not that newer orphan.
			crashScenario{name: m + "/reprovision, token refused", method: m, reprovision: true,
				faults: map[string][]error{"register": {errToken}}, orphans: 2},
			crashScenario{name: m + "/rotation", method: m, reprovision: true, rotate: true, orphans: 1},
			crashScenario{name: m + "/rotation, transient failures", method: m, reprovision: true, rotate: true,
				faults: map[string][]error{"register": {err503}, "prove": {err503}}, orphans: 1},
		)
	}
	for _, sc := range slices.Clone(out) {
		sc.name += ", token"
		sc.token = true
		out = append(out, sc)
	}
	return out
}

// prepare builds the harness for a scenario, registered first when it
// reprovisions.
func (sc crashScenario) prepare(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, sc.method, clockMode(!sc.rotate))
	if sc.token {
		h.keyStore = keystore.NewMemory()
	}
	if sc.rotate {
		h.settings.Rotation = rotation.Policy{After: 30 * 24 * time.Hour}
	}
	if sc.reprovision {
		h.runUntil(registeredAs(""))
		h.notify = newFakeNotifier()
	}
	for op, errs := range sc.faults {
		h.svc.fail(op, errs...)
	}
	return h
}

// run starts one Runner of the story; it asks for the reprovision.
func (sc crashScenario) run(h *harness) {
	if sc.rotate {
		// The clock moves only to fire the rotation's timer; a failure's
		// backoff timer is fired as it is armed.
		drainArmed(h.clock)
		h.start()
		done := make(chan struct{})
		h.t.Cleanup(func() { close(done) })
		go func() {
			rotated := false
			for {
				select {
				case <-done:
					return
				case d := <-h.clock.Armed():
					// Backoffs (an hour at most) fire; of the rotation
					// timers, only the first identity's.
					if d <= time.Hour || !rotated {
						rotated = rotated || d > time.Hour
						h.clock.Advance(d)
					}
				}
			}
		}()
		return
	}
	if sc.reprovision {
		if err := h.files.Write(store.ReprovisionRequestFile, []byte("now\n"), 0o600); err != nil {
			h.t.Fatal(err)
		}
	}
	h.start()
}

// drainArmed forgets the timers armed so far.
func drainArmed(c *fakeClock) {
	for {
		select {
		case <-c.Armed():
		default:
			return
		}
	}
}

// points runs the story without a crash and counts passes through each point.
func (sc crashScenario) points(t *testing.T) map[string]int {
	t.Helper()
	h := sc.prepare(t)
	var mu sync.Mutex
	seen := map[string]int{}
	h.crash = func(p string) {
		mu.Lock()
		seen[p]++
		mu.Unlock()
	}
	sc.run(h)
	h.finish(sc.final())
	return seen
}

func (sc crashScenario) final() func(store.State) bool {
	if sc.reprovision {
		return registeredAs("thing-2")
	}
	return registeredAs("")
}

// checkAfterCrashes asserts what must hold however many crashes happened.
func (sc crashScenario) checkAfterCrashes(t *testing.T, h *harness, crashes int) {
	t.Helper()
	st := checkRegistered(t, h)
	if n := h.svc.maxRegisterCallsPerToken(); n > 1 {
		t.Errorf("RegisterThing called %d times for one token", n)
	}
	if n := len(st.Orphans); n > sc.orphans+crashes {
		t.Errorf("%d orphans recorded after %d crashes, want at most %d: %+v", n, crashes, sc.orphans+crashes, st.Orphans)
	}
	if n := h.svc.unregistered(); n > sc.orphans+crashes {
		t.Errorf("%d certificates left unregistered at the service after %d crashes", n, crashes)
	}
	if n := int(h.keyGens.Load()); sc.method == MethodCSR && n > st.Identity {
		t.Errorf("%d CSR keys generated for %d identities: a saved key was not reused", n, st.Identity)
	}
	if sc.reprovision && st.Identity < 2 {
		t.Errorf("identity %d: the reprovision was lost", st.Identity)
	}
	if sc.reprovision {
		// prepare handed over identity 1: a consumer that read that
		// credentials.json may still open its files.
		for _, name := range []string{store.IdentityFile(1, store.KeyFileName), store.IdentityFile(1, store.CertificateFileName)} {
			if !h.exists(name) && (!sc.token || name != store.IdentityFile(1, store.KeyFileName)) {
				t.Errorf("%s, which the previous credentials.json named, was removed", name)
			}
		}
		if sc.token && !sc.tokenHolds(h, 1) {
			t.Error("identity 1's key, which the previous credentials.json named, left the token")
		}
	}
}

// tokenHolds reports whether the token holds a key of identity n.
func (sc crashScenario) tokenHolds(h *harness, n int) bool {
	return h.keyStore.(*keystore.Memory).Holds(store.IdentityDir(n))
}

// checkOneRetiredKey asserts that the identity the previous credentials.json
// named is the only older one left. Only a run that got through its
// clean-up is checked: a daemon stopped right at start cleans up at its
// next.
func (sc crashScenario) checkOneRetiredKey(t *testing.T, h *harness) {
	t.Helper()
	if sc.token {
		// The identity's key, and the retired one's: no key made and
		// abandoned stays in the token.
		want := 1
		if sc.reprovision {
			want = 2
		}
		if n := h.keyStore.(*keystore.Memory).Count(); n > want {
			t.Errorf("%d keys in the token, want at most %d", n, want)
		}
	}
	if !sc.reprovision {
		return
	}
	for n := 2; n < h.state().Identity; n++ {
		if h.exists(store.IdentityFile(n, store.KeyFileName)) || sc.token && sc.tokenHolds(h, n) {
			t.Errorf("identity %d's key lingers beside the retired identity 1", n)
		}
	}
}

func TestCrashAtEveryPoint(t *testing.T) {
	for _, sc := range crashScenarios() {
		seen := sc.points(t)
		names := make([]string, 0, len(seen))
		for p := range seen {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, point := range names {
			for n := 1; n <= seen[point]; n++ {
				t.Run(fmt.Sprintf("%s/%s#%d", sc.name, point, n), func(t *testing.T) {
					h := sc.prepare(t)
					h.crash = crashAt(point, n)
					sc.run(h)
					if err := h.wait(); err != errCrashed {
						t.Fatalf("first run ended with %v, want a crash at %s", err, point)
					}
					// A fresh Runner on the same store resumes.
					h.crash = nil
					h.notify = newFakeNotifier()
					h.runUntil(sc.final())
					sc.checkAfterCrashes(t, h, 1)
					if point != PointRegistered {
						sc.checkOneRetiredKey(t, h)
					}
				})
			}
		}
	}
}

// TestCrashLoop crashes at each new point it reaches, restarting each time,
// until a run gets through: many crashes, still one consistent identity.
func TestCrashLoop(t *testing.T) {
	for _, sc := range crashScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			h := sc.prepare(t)
			crashed := map[string]bool{}
			h.crash = func(p string) {
				if !crashed[p] {
					crashed[p] = true
					runtime.Goexit()
				}
			}
			crashes := 0
			for first := true; ; first = false {
				h.notify = newFakeNotifier()
				if first {
					sc.run(h)
				} else {
					h.start()
				}
				if h.waitSavedOrCrash(sc.final()) {
					// The status comes just before the last crash point.
					err := h.stop()
					if err == nil {
						break
					}
					if err != errCrashed {
						t.Fatal(err)
					}
				}
				crashes++
				if crashes > 50 {
					t.Fatal("no progress across restarts")
				}
			}
			if crashes < 4 {
				t.Errorf("only %d crashes", crashes)
			}
			phases := h.files.Phases()
			if phases[len(phases)-1] != store.Registered || !slices.Contains(phases, store.CertPending) {
				t.Errorf("phases %v", phases)
			}
			sc.checkAfterCrashes(t, h, crashes)
		})
	}
}
