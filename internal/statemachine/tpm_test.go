package statemachine

import (
	"crypto"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/rotation"
	"github.com/provisiond/provisiond/internal/store"
)

// newTPMHarness is a CSR harness with key_store: tpm on a real swtpm,
// keeping the key at handle when set.
func newTPMHarness(t *testing.T, handle string, mode clockMode) (*harness, *tpmtest.SWTPM) {
	t.Helper()
	sw := tpmtest.Start(t)
	h := newHarness(t, MethodCSR, mode)
	h.tpm = tpmkey.NewShared(tpmkey.Settings{Device: sw.Device, Handle: handle})
	h.keyStore = keystore.NewTPM(h.files, h.tpm)
	t.Cleanup(func() { h.tpm.Close() })
	return h, sw
}

// The TPM key's file is saved before the CSR is sent: a crash right after
// leaves a usable key, which the restart loads and sends the CSR for (no
// new key), and the handoff names it as a TSS2 key at tpm.handle.
func TestTPMKeySavedBeforeTheCSRIsKeptAcrossACrash(t *testing.T) {
	h, _ := newTPMHarness(t, "0x81000005", autoClock)
	h.crash = crashAt(PointKeySaved, 1)
	h.start()
	if err := h.wait(); err != errCrashed {
		t.Fatalf("Run = %v, want a crash at %s", err, PointKeySaved)
	}
	st := h.state()
	if !strings.HasSuffix(st.KeyFile, "/"+store.TPMKeyFileName) {
		t.Fatalf("key file %q, want %s", st.KeyFile, store.TPMKeyFileName)
	}
	saved, err := h.files.Read(st.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := tpmkey.FilePublic(saved)
	if err != nil {
		t.Fatalf("the saved key is no TSS2 file: %v", err)
	}

	h.crash = nil
	h.runUntil(registeredAs(""))
	st = h.state()
	certPEM, err := h.files.Read(st.CertificateFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := keypair.MatchPublic(cert, pub); err != nil {
		t.Fatalf("the certificate is not for the key saved before the crash: %v", err)
	}
	if n := h.keyGens.Load(); n != 0 {
		t.Errorf("%d software keys generated with key_store: tpm", n)
	}
	data, err := h.files.Read(store.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	var handed store.Credentials
	if err := json.Unmarshal(data, &handed); err != nil {
		t.Fatal(err)
	}
	if handed.PrivateKeyType != store.PrivateKeyTSS2 || handed.PrivateKeyHandle != "0x81000005" {
		t.Errorf("credentials.json: privateKeyType %q, privateKeyHandle %q; want tss2 at 0x81000005",
			handed.PrivateKeyType, handed.PrivateKeyHandle)
	}
}

// A TPM that is not there is the TPM's failure, in its words and with the
// setting to look at, waited out at the long wait; no key is recorded, and
// the device provisions once the TPM is back.
func TestMissingTPMIsWaitedOut(t *testing.T) {
	h, sw := newTPMHarness(t, "", autoClock)
	sw.Stop()
	h.start()
	st := h.waitSaved(func(s store.State) bool { return s.LastError != "" })
	if !strings.Contains(st.LastError, "tpm.device") || !strings.Contains(st.LastError, "TPM") ||
		st.LastErrorKind != "permanent" || st.KeyFile != "" {
		t.Fatalf("failure %q (%s), key %q; want the TPM named, the long wait, no key", st.LastError, st.LastErrorKind, st.KeyFile)
	}
	if st.Attempts != 0 {
		t.Errorf("attempts %d: a TPM that is not there is no attempt at the service", st.Attempts)
	}
	sw.Restart()
	h.finish(registeredAs(""))
}

// Reprovisioning makes a new key in the TPM and moves tpm.handle to it;
// the retired identity keeps its key file for consumers still using it.
func TestReprovisionMakesANewTPMKeyAtTheHandle(t *testing.T) {
	h, _ := newTPMHarness(t, "0x81000006", autoClock)
	h.runUntil(registeredAs(""))
	first := h.state()
	if err := h.files.Write(store.ReprovisionRequestFile, []byte("now\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.runUntil(func(s store.State) bool { return registeredAs("")(s) && s.Identity != first.Identity })
	second := h.state()
	oldKey, err := h.files.Read(first.KeyFile)
	if err != nil {
		t.Fatalf("the retired identity's key file: %v", err)
	}
	newKey, err := h.files.Read(second.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	oldPub, _ := tpmkey.FilePublic(oldKey)
	newPub, err := tpmkey.FilePublic(newKey)
	if err != nil || oldPub == nil || oldPub.(interface{ Equal(crypto.PublicKey) bool }).Equal(newPub) {
		t.Fatalf("reprovisioning kept the key (%v)", err)
	}
	tpm, err := h.tpm.TPM()
	if err != nil {
		t.Fatal(err)
	}
	held, err := tpm.LoadHandle(0x81000006, "tpm.handle")
	if err != nil {
		t.Fatal(err)
	}
	if !held.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(newPub) {
		t.Fatal("tpm.handle does not hold the new identity's key")
	}
}

// tpm.handle is kept at every start: a registered device whose TPM lost
// the key at the handle (cleared, or evicted by hand) gets it back before
// the daemon goes idle.
func TestHandleRestoredAtStart(t *testing.T) {
	h, _ := newTPMHarness(t, "0x81000007", testClock)
	h.settings.VerifyEvery = 24 * time.Hour // idle arms a timer: the start is over
	h.start()
	st := h.waitSaved(registeredAs("thing-1"))
	waitArmed(t, h.clock)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	tpm, err := h.tpm.TPM()
	if err != nil {
		t.Fatal(err)
	}
	keyFile, err := h.files.Read(st.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := tpm.Forget(keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := tpm.LoadHandle(0x81000007, "tpm.handle"); err == nil {
		t.Fatal("the key is still at the handle after Forget")
	}
	h.start()
	waitArmed(t, h.clock)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	held, err := tpm.LoadHandle(0x81000007, "tpm.handle")
	if err != nil {
		t.Fatalf("tpm.handle after a restart: %v", err)
	}
	pub, err := tpmkey.FilePublic(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !held.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Fatal("tpm.handle holds another key than the identity's")
	}
}

// rotation.credential: device with the key in the TPM: the session over
// the device's identity signs in the TPM, and registers with the
// rotation's template.
func TestRotationOverTheDeviceIdentitySignsInTheTPM(t *testing.T) {
	h, _ := newTPMHarness(t, "", testClock)
	h.settings.Rotation = rotation.Policy{After: 30 * 24 * time.Hour}
	h.settings.RotationTemplate = "RotationTemplate"
	h.start()
	h.waitSaved(registeredAs("thing-1"))
	d := armedAtLeast(t, h.clock, time.Hour)
	before := tpmkey.Signatures()
	h.clock.Advance(d)
	st := h.waitSaved(registeredAs("thing-2"))
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.svc.mu.Lock()
	keys := h.svc.deviceKeys
	h.svc.mu.Unlock()
	if len(keys) == 0 {
		t.Fatalf("no session over the device identity: %v", h.svc.Calls())
	}
	for _, k := range keys {
		if _, inTPM := k.(*tpmkey.Key); !inTPM {
			t.Errorf("the device session signed with a %T, want the TPM's key", k)
		}
	}
	if got := st.DeviceConfiguration["template"]; got != "RotationTemplate" {
		t.Errorf("registered with %q, want the rotation's template", got)
	}
	if tpmkey.Signatures() == before {
		t.Error("nothing signed in the TPM during the rotation")
	}
}
