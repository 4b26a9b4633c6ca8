package statemachine

import (
	"crypto"
	"encoding/json"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/store"
)

// newTPMHarness is a CSR harness with key_store: tpm on a real swtpm,
// keeping the key at handle when set.
func newTPMHarness(t *testing.T, handle string) (*harness, *tpmtest.SWTPM) {
	t.Helper()
	sw := tpmtest.Start(t)
	h := newHarness(t, MethodCSR, autoClock)
	h.tpm = tpmkey.NewShared(tpmkey.Settings{Device: sw.Device, Handle: handle})
	h.keyStore = keystore.NewTPM(h.files, h.tpm)
	t.Cleanup(func() { h.tpm.Close() })
	return h, sw
}

// The TPM key's file is saved before the CSR is sent: a crash right after
// leaves a usable key, which the restart loads and sends the CSR for (no
// new key), and the handoff names it as a TSS2 key at tpm.handle.
func TestTPMKeySavedBeforeTheCSRIsKeptAcrossACrash(t *testing.T) {
	h, _ := newTPMHarness(t, "0x81000005")
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
	h, sw := newTPMHarness(t, "")
	sw.Stop()
	h.start()
	st := h.waitSaved(func(s store.State) bool { return s.LastError != "" })
	if !strings.Contains(st.LastError, "tpm.device") || !strings.Contains(st.LastError, "TPM") ||
		st.LastErrorKind != "permanent" || st.KeyFile != "" {
		t.Fatalf("failure %q (%s), key %q; want the TPM named, the long wait, no key", st.LastError, st.LastErrorKind, st.KeyFile)
	}
	sw.Restart()
	h.finish(registeredAs(""))
}

// Reprovisioning makes a new key in the TPM and moves tpm.handle to it;
// the retired identity keeps its key file for consumers still using it.
func TestReprovisionMakesANewTPMKeyAtTheHandle(t *testing.T) {
	h, _ := newTPMHarness(t, "0x81000006")
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
