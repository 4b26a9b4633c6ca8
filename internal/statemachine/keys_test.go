package statemachine

import (
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
