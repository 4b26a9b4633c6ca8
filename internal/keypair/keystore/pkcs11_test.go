package keystore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/keystore/keystoretest"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
	"github.com/provisiond/provisiond/internal/store"
)

// pkcs11Store opens softhsm2's token as a new process would; each store
// is closed when the test ends.
func pkcs11Store(t *testing.T, m *p11test.Module, tok p11test.Token, importKeys bool) *keystore.PKCS11 {
	s := keystore.NewPKCS11(store.NewMemory(), p11key.Settings{Module: m.Path, Token: "pkcs11:token=" + tok.Label,
		PIN: tok.PIN, Label: p11key.DefaultLabel, Import: importKeys})
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPKCS11(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	for _, keyType := range []string{"ec-p256", "rsa-2048"} {
		t.Run(keyType, func(t *testing.T) {
			s := pkcs11Store(t, m, tok, false)
			reopen := func() keystore.Store { return pkcs11Store(t, m, tok, false) }
			keystoretest.Run(t, s, keyType, reopen)
		})
	}
	t.Run("import", func(t *testing.T) { keystoretest.RunImport(t, pkcs11Store(t, m, tok, true)) })
	// Forget removed every pair the suites made.
	token, err := p11key.OpenToken(p11key.Settings{Module: m.Path, Token: "pkcs11:token=device", PIN: tok.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	objs, err := token.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if !strings.HasSuffix(o.Label, store.IdentityDir(4)) {
			t.Errorf("left in the token: %+v", o)
		}
	}
}

// The handoff names the key by a URI libp11 takes and by parts, and the
// PIN by its file, never the PIN.
func TestPKCS11Handoff(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	s := pkcs11Store(t, m, tok, false)
	ref := s.Plan(store.IdentityDir(7))
	if _, err := s.Make(ref, "ec-p256", func(func() error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var c store.Credentials
	s.Handoff(ref, &c)
	if c.PrivateKeyType != store.PrivateKeyPKCS11 || c.PrivateKeyFile != "" || c.PKCS11Module != m.Path ||
		c.PKCS11TokenLabel != "device" || c.PKCS11KeyLabel != ref.KeyLabel || c.PKCS11PinFile != tok.PINFile {
		t.Fatalf("handoff %+v", c)
	}
	u, err := p11key.ParseURI(c.PrivateKeyURI)
	if err != nil || u.Token != "device" || u.Serial == "" || u.Object != ref.KeyLabel || u.Type != "private" || len(u.ID) != 16 {
		t.Fatalf("privateKeyUri %s: %+v, %v", c.PrivateKeyURI, u, err)
	}
	if strings.Contains(c.PrivateKeyURI, "pin") || strings.Contains(c.PrivateKeyURI, "module") || strings.Contains(c.PrivateKeyURI, p11test.UserPIN) {
		t.Fatalf("privateKeyUri %s names a PIN or module", c.PrivateKeyURI)
	}
}

// A token that cannot be opened is the device failing, not the key: the
// key is kept, and a wrong PIN is not transient (no backoff may lock the
// token).
func TestPKCS11TokenFailureKeepsTheKey(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	s := pkcs11Store(t, m, tok, false)
	ref := s.Plan(store.IdentityDir(1))
	if _, err := s.Make(ref, "ec-p256", func(func() error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	bad := keystore.NewPKCS11(store.NewMemory(), p11key.Settings{Module: m.Path, Token: "pkcs11:token=device", PIN: "file:/nonexistent/pin", Label: "provisiond"})
	_, err := bad.Load(ref)
	if err == nil || errors.Is(err, keystore.ErrUnusable) {
		t.Fatalf("Load with the PIN missing = %v, want a device error that keeps the key", err)
	}
	if transient, ok := keystore.Device(err); !ok || transient {
		t.Fatalf("Load with the PIN missing: device %v transient %v, want a permanent device error", ok, transient)
	}
	if _, err := pkcs11Store(t, m, tok, false).Load(ref); err != nil {
		t.Fatalf("the key is gone: %v", err)
	}
}
