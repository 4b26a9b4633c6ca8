package statemachine

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/store"
)

// claimValid is a claim valid around the fake clock's time.
func claimValid(h *harness, name, id string) claims.Claim {
	now := h.clock.Now()
	return claims.Claim{Name: name, CertificateID: id, Ref: name, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)}
}

func claimExpired(h *harness, name, id string) claims.Claim {
	c := claimValid(h, name, id)
	c.NotAfter = h.clock.Now().Add(-time.Hour)
	return c
}

func TestExpiredClaimIsPassedOverForTheNext(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	h.svc.setClaims(claimExpired(h, "old.pem.crt", "old"), claimValid(h, "spare.pem.crt", "spare"))
	st := h.provision(registeredAs(""))
	if got := h.svc.Dialed(); slices.Contains(got, "old") || len(got) == 0 {
		t.Fatalf("dialed %v: the expired claim must never be dialed", got)
	}
	if st.Claim == nil || st.Claim.CertificateID != "spare" || !strings.Contains(st.Claim.PassedOver, "old.pem.crt expired at") {
		t.Fatalf("state names claim %+v, want spare with old passed over as expired", st.Claim)
	}
}

func TestRefusedClaimFallsToTheNextAtOnce(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.svc.setClaims(claimValid(h, "leaked.pem.crt", "leaked"), claimValid(h, "spare.pem.crt", "spare"))
	h.svc.refuseClaims = map[string]bool{"leaked": true}
	h.start()
	st := h.waitSaved(registeredAs(""))
	if got := h.svc.Dialed(); len(got) < 2 || !slices.Equal(got[:2], []string{"leaked", "spare"}) {
		t.Fatalf("dialed %v, want the refused claim then the next", got)
	}
	if !slices.Equal(st.RefusedClaims, []string{"leaked"}) || st.Claim.CertificateID != "spare" ||
		!strings.Contains(st.Claim.PassedOver, "leaked.pem.crt refused by the service") {
		t.Fatalf("refused %v, claim %+v", st.RefusedClaims, st.Claim)
	}
	// The fake clock never moved: the next claim was tried without a wait.
	if w := h.clock.Waits(); len(w) > 0 && w[0] > 0 {
		t.Errorf("waited %v before the next claim", w)
	}
}

func TestAllClaimsExpiredSendsNothingAndSaysSo(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.svc.setClaims(claimExpired(h, "a.pem.crt", "a"), claimExpired(h, "b.pem.crt", "b"))
	h.start()
	st := h.waitSaved(func(s store.State) bool { return s.LastErrorKind == store.KindClaim })
	if got := h.svc.Dialed(); len(got) != 0 {
		t.Fatalf("dialed %v with every claim expired", got)
	}
	text := StatusText(st, h.clock.Now())
	if !strings.Contains(text, claims.AllExpiredText) || !strings.Contains(text, "a.pem.crt expired") {
		t.Fatalf("status %q, want %q naming the claims", text, claims.AllExpiredText)
	}
	if st.Attempts != 0 {
		t.Errorf("attempts %d: no claim is no attempt of the service", st.Attempts)
	}
	if d := st.NextAttemptAt.Sub(h.clock.Now()); d != h.settings.Retry.Permanent {
		t.Errorf("next look in %v, want retry.permanent (%v)", d, h.settings.Retry.Permanent)
	}
	// A new claim installed: the watch kicks the runner, which uses it.
	h.svc.setClaims(claimExpired(h, "a.pem.crt", "a"), claimValid(h, "new.pem.crt", "new"))
	h.runner.Kick()
	st = h.waitSaved(registeredAs(""))
	if st.Claim.CertificateID != "new" {
		t.Fatalf("provisioned with %+v, want the new claim", st.Claim)
	}
}

func TestAwaitingATemporaryClaim(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.settings.ClaimImport = true
	h.svc.setClaims() // nothing handed over yet
	h.start()
	st := h.waitSaved(func(s store.State) bool { return s.LastErrorKind == store.KindClaim })
	if got := StatusText(st, h.clock.Now()); !strings.Contains(got, AwaitingClaimText) {
		t.Fatalf("status %q, want %q", got, AwaitingClaimText)
	}
	if st.KeyRef.IsZero() {
		t.Error("the device key is made before the claim arrives, so that the claim's minutes are not spent on it")
	}
	if len(h.svc.Dialed()) != 0 {
		t.Fatal("dialed without a claim")
	}
	// The drop lands in the state folder: the folder watch wakes the runner.
	drop := store.ClaimImportDir + "/claim-0123.json"
	if err := h.files.Write(drop, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	temp := claimValid(h, "imported claim", "temp")
	temp.NotAfter = h.clock.Now().Add(5 * time.Minute)
	temp.Temporary, temp.Ref = true, drop
	temp.Parameters = map[string]string{"SerialNumber": "from-installer"}
	h.svc.setClaims(temp)
	h.runner.HandoffChanged()
	st = h.waitSaved(func(s store.State) bool { return s.Phase == store.Registered && s.Claim != nil && s.Claim.Drop == "" })
	if st.Claim.CertificateID != "temp" {
		t.Fatalf("registered with %+v", st.Claim)
	}
	if _, err := h.files.Read(drop); err == nil {
		t.Fatal("the used temporary claim is still in the drop folder")
	}
	data, err := h.files.Read(store.CredentialsFile)
	if err != nil || !strings.Contains(string(data), `"serial": "from-installer"`) {
		t.Fatalf("credentials.json %s (%v): RegisterThing must have had the drop's SerialNumber", data, err)
	}
}

func TestATemporaryClaimThatExpiredIsRemovedAndSaid(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.settings.ClaimImport = true
	drop := store.ClaimImportDir + "/claim-0123.json"
	if err := h.files.Write(drop, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	temp := claimExpired(h, "imported claim", "temp")
	temp.Temporary, temp.Ref = true, drop
	h.svc.setClaims(temp)
	h.start()
	st := h.waitSaved(func(s store.State) bool { return s.LastErrorKind == store.KindClaim })
	want := claims.TemporaryExpiredText(temp.NotAfter)
	if got := StatusText(st, h.clock.Now()); !strings.Contains(got, want) {
		t.Fatalf("status %q, want %q", got, want)
	}
	if _, err := h.files.Read(drop); err == nil {
		t.Fatal("the expired temporary claim was kept")
	}
	if len(h.svc.Dialed()) != 0 {
		t.Fatal("an expired temporary claim was dialed")
	}
}

func TestTheOnlyClaimRefusedIsTriedAgainAfterTheLongWait(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.svc.setClaims(claimValid(h, "claim.pem.crt", "only"))
	h.svc.refuseClaims = map[string]bool{"only": true}
	h.start()
	h.waitSaved(func(s store.State) bool { return slices.Contains(s.RefusedClaims, "only") })
	if d := waitArmed(t, h.clock); d != h.settings.Retry.Permanent {
		t.Fatalf("waits %v after the only claim's refusal, want retry.permanent", d)
	}
	h.svc.mu.Lock()
	h.svc.refuseClaims = nil // made ACTIVE again
	h.svc.mu.Unlock()
	h.clock.Advance(h.settings.Retry.Permanent)
	st := h.waitSaved(registeredAs(""))
	if got := h.svc.Dialed(); len(st.RefusedClaims) != 0 || len(got) < 2 || !slices.Equal(got[:2], []string{"only", "only"}) {
		t.Fatalf("refused %v, dialed %v", st.RefusedClaims, h.svc.Dialed())
	}
}
