package statemachine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A service that refuses every ownership token must not get a certificate
// request per round trip: each refusal is a counted failure and backs off.
func TestRefusedTokensBackOff(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	h.svc.fail("register", errToken, errToken, errToken, errToken)
	waits := recordWaits(h)
	st := h.provision(registeredAs(""))
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
	h := newHarness(t, MethodCSR, autoClock)
	reg403 := *err403
	reg403.Operation = "RegisterThing"
	h.svc.fail("register", &reg403, &reg403)
	waits := recordWaits(h)
	st := h.provision(registeredAs(""))
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
