package statemachine

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/store"
)

// A busy key store device (a TPM out of sessions) is waited out by its
// kind, a few seconds, not by the service's backoff, and is no attempt at
// the service: the count stays, and the device gets its key made once it
// recovers.
func TestKeyStoreDeviceFailureWaitsByItsKind(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	mem := keystore.NewMemory()
	var busy atomic.Int32
	busy.Store(2)
	mem.Fail = func(op string) error {
		if op == "make" && busy.Add(-1) >= 0 {
			return &tpmkey.Error{Kind: tpmkey.KindTransient, Msg: "the TPM is busy"}
		}
		return nil
	}
	h.keyStore = mem
	h.start()
	st := h.waitSaved(func(s store.State) bool { return s.LastError != "" })
	if st.Attempts != 0 || st.LastErrorKind != store.KindTransient {
		t.Errorf("attempts %d, kind %q: want no attempt counted, transient", st.Attempts, st.LastErrorKind)
	}
	for range 2 {
		if d := waitArmed(t, h.clock); d != deviceRetry {
			t.Fatalf("waits %s after a busy device, want %s", d, deviceRetry)
		}
		h.clock.Advance(deviceRetry)
	}
	h.finish(registeredAs("thing-1"))
	if n := mem.Count(); n != 1 {
		t.Errorf("%d keys in the store, want the identity's", n)
	}
}

// A CSR key that an earlier run recorded and made, and that the device
// now refuses to sign with for good (a pair a kill cut short inside the
// token), is replaced as an unusable one is: the device registers with a
// new key, and the old one is gone from the store. A key this run made
// that the device will not sign with is not replaced: the failure is
// reported, and no new key is made for it.
func TestSavedKeyThatDoesNotSignIsReplaced(t *testing.T) {
	// refuse makes the device refuse every signature, until a key is made
	// when untilMake is set.
	refuse := func(mem *keystore.Memory, untilMake bool) {
		var broken atomic.Bool
		broken.Store(true)
		mem.Fail = func(op string) error {
			switch {
			case op == "make" && untilMake:
				broken.Store(false)
			case op == "sign" && broken.Load():
				return &tpmkey.Error{Kind: tpmkey.KindFailed, Msg: "the device refused to sign"}
			}
			return nil
		}
	}
	t.Run("made by an earlier run", func(t *testing.T) {
		h := newHarness(t, MethodCSR, autoClock)
		mem := keystore.NewMemory()
		h.keyStore = mem
		// The first run makes the key, and stops once the service's refusal
		// of its CSR is recorded: the key is made and still unprovisioned.
		h.svc.fail("create", err503)
		h.crash = crashAt(PointRetryScheduled, 1)
		h.start()
		if err := h.wait(); err != errCrashed {
			t.Fatalf("first run ended with %v, want a crash once its failure is recorded", err)
		}
		if mem.Count() != 1 {
			t.Fatalf("%d keys after the first run, want the one it made", mem.Count())
		}
		torn := h.state().KeyRef
		refuse(mem, true)
		h.crash = nil
		h.notify = newFakeNotifier()
		st := h.provision(registeredAs("thing-1"))
		if st.KeyRef == torn {
			t.Errorf("registered with the key the device refused to sign with, %+v", torn)
		}
		if n := mem.Count(); n != 1 {
			t.Errorf("%d keys in the store, want the new identity's alone", n)
		}
	})
	t.Run("made by this run", func(t *testing.T) {
		h := newHarness(t, MethodCSR, testClock)
		mem := keystore.NewMemory()
		refuse(mem, false)
		h.keyStore = mem
		h.start()
		st := h.waitSaved(func(s store.State) bool { return s.LastError != "" })
		if st.Attempts != 0 || !strings.Contains(st.LastError, "the device refused to sign") {
			t.Errorf("attempts %d, last error %q: want the device's refusal, no attempt at the service", st.Attempts, st.LastError)
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		if n := mem.Count(); n != 1 {
			t.Errorf("%d keys in the store, want the one this run made", n)
		}
	})
}
