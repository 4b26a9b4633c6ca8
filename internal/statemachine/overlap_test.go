package statemachine

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/store"
)

// signalled is a channel closed once, from any goroutine.
type signalled struct {
	once sync.Once
	c    chan struct{}
}

func newSignalled() *signalled { return &signalled{c: make(chan struct{})} }
func (s *signalled) fire()     { s.once.Do(func() { close(s.c) }) }

// await waits for s; the bound only turns a missing overlap into a failure
// instead of a hang.
func (s *signalled) await(t *testing.T, what string) {
	select {
	case <-s.c:
	case <-time.After(10 * time.Second):
		t.Errorf("%s never happened during the write", what)
	}
}

// stateWrite decodes a state.json write, or reports false for other files.
func stateWrite(name string, data []byte) (store.State, bool) {
	var st store.State
	if name != store.StateFile || json.Unmarshal(data, &st) != nil {
		return st, false
	}
	return st, true
}

// callDuringSave makes the service call op and the state save that isSave
// picks each wait until the other has begun, so that either order in
// sequence fails the test.
func callDuringSave(t *testing.T, h *harness, op, call, save string, isSave func(store.State) bool) {
	called, saving := newSignalled(), newSignalled()
	h.svc.onEnter = func(entered string) {
		if entered == op {
			called.fire()
			saving.await(t, save)
		}
	}
	h.files.before = func(name string, data []byte) {
		if st, ok := stateWrite(name, data); ok && isSave(st) {
			saving.fire()
			called.await(t, call)
		}
	}
}

// The claim connection opens while the CSR key and the attempt are saved.
func TestClaimConnectionOpensDuringTheSaveBeforeTheCall(t *testing.T) {
	for _, method := range []string{MethodCSR, MethodCreateKeys} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, method, autoClock)
			callDuringSave(t, h, "dial", "the claim connection", "the attempt's save", func(st store.State) bool {
				return st.Phase == store.Unprovisioned && st.Attempts > 0
			})
			h.provision(registeredAs(""))
		})
	}
}

// The identity's files are written while the state that names them is
// saved, not one after the other (each side waits for the other to begin).
func TestIdentityFilesAreWrittenDuringTheCertPendingSave(t *testing.T) {
	for _, method := range []string{MethodCSR, MethodCreateKeys} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, method, autoClock)
			saving, writing := newSignalled(), newSignalled()
			var mu sync.Mutex
			written := map[string]bool{}
			h.files.before = func(name string, data []byte) {
				if st, ok := stateWrite(name, data); ok && st.Phase == store.CertPending && st.CertificateID != "" && st.ThingName == "" {
					saving.fire()
					writing.await(t, "the identity's files")
					return
				}
				// With a CSR the key was saved before the call.
				alongside := strings.HasSuffix(name, store.CertificateFileName) || method == MethodCreateKeys && strings.HasSuffix(name, store.KeyFileName)
				if strings.HasPrefix(name, "identities/") && alongside {
					writing.fire()
					saving.await(t, "the cert-pending save")
					mu.Lock()
					written[name] = true
					mu.Unlock()
				}
			}
			h.provision(registeredAs(""))
			want := 1
			if method == MethodCreateKeys {
				want = 2 // the key comes with the certificate
			}
			if len(written) != want {
				t.Errorf("files written alongside the save: %v, want %d", written, want)
			}
		})
	}
}

// The new identity is proved while its registration is saved.
func TestProofRunsDuringTheRegistrationSave(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	callDuringSave(t, h, "prove", "the proving connection", "the registration's save", func(st store.State) bool {
		return st.Phase == store.CertPending && st.ThingName != ""
	})
	h.provision(registeredAs(""))
}

// A crash inside work that runs alongside a save (here the proving
// connection) ends the whole run, like any crash; the next start proves
// again without registering again.
func TestCrashDuringAnOverlappedProofResumes(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	var once sync.Once
	h.svc.onEnter = func(op string) {
		if op == "prove" {
			crash := false
			once.Do(func() { crash = true })
			if crash {
				runtime.Goexit()
			}
		}
	}
	h.start()
	if err := h.wait(); err != errCrashed {
		t.Fatalf("first run ended with %v, want a crash in the proof", err)
	}
	st := h.provision(registeredAs(""))
	if n := h.svc.maxRegisterCallsPerToken(); n != 1 {
		t.Errorf("RegisterThing called %d times for the token", n)
	}
	if len(st.Orphans) != 0 {
		t.Errorf("orphans %+v", st.Orphans)
	}
}

// A power cut during the overlapped writes can leave a state that names a
// certificate file which never reached the disk: that certificate is given
// up and a new identity obtained, as with any unusable identity.
func TestStateNamingAMissingCertificateGetsANewIdentity(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	h.crash = func(point string) {
		if point == PointCertPending {
			runtime.Goexit()
		}
	}
	h.start()
	if err := h.wait(); err != errCrashed {
		t.Fatalf("first run ended with %v, want a crash after the cert-pending save", err)
	}
	h.crash = nil
	lost := h.state()
	if err := h.files.Remove(lost.CertificateFile); err != nil {
		t.Fatal(err)
	}
	st := h.provision(registeredAs(""))
	if len(st.Orphans) != 1 || st.Orphans[0].CertificateID != lost.CertificateID ||
		!strings.Contains(st.Orphans[0].Reason, "identity files unusable") {
		t.Errorf("orphans %+v, want the lost certificate %s", st.Orphans, lost.CertificateID)
	}
}

// A CSR key is written while the save that names it runs.
func TestCSRKeyIsWrittenDuringTheSaveThatNamesIt(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	saving, writing := newSignalled(), newSignalled()
	h.files.before = func(name string, data []byte) {
		if st, ok := stateWrite(name, data); ok && st.Phase == store.Unprovisioned && st.KeyFile != "" && st.CertificateID == "" {
			saving.fire()
			writing.await(t, "the key file's write")
		}
		if strings.HasSuffix(name, store.KeyFileName) {
			writing.fire()
			saving.await(t, "the save naming the key")
		}
	}
	h.provision(registeredAs(""))
}

// A local failure before the first call stops the claim connection being
// made alongside instead of waiting for it: a disk error is reported at
// once even when the network hangs.
func TestLocalFailureStopsTheDialAlongside(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.svc.block["dial"] = make(chan struct{}) // a connection that never completes
	h.files.SetWriteHook(func(name string, _ []byte) error {
		if strings.HasSuffix(name, store.KeyFileName) {
			return errors.New("no space left on device")
		}
		return nil
	})
	h.start()
	status := h.waitStatus("unprovisioned: save private key retry 1")
	if !strings.Contains(status, "no space left") {
		t.Errorf("status %q, want the disk error", status)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if st := h.state(); st.Attempts != 1 || !strings.Contains(st.LastError, "save private key") {
		t.Errorf("attempts %d, last error %q", st.Attempts, st.LastError)
	}
}
