package p11key_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
)

// wantError checks that err is a *p11key.Error of the kind, naming the
// setting, with want in its text, and never the PIN.
func wantError(t *testing.T, err error, kind p11key.Kind, setting, want string) {
	t.Helper()
	var pe *p11key.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v (%T), want a *p11key.Error", err, err)
	}
	if pe.Kind != kind || pe.Setting != setting || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %q (kind %v, setting %q), want kind %v, setting %q, containing %q", err, pe.Kind, pe.Setting, kind, setting, want)
	}
	if !strings.HasPrefix(err.Error(), setting+": ") {
		t.Fatalf("%q does not start with the setting %s", err, setting)
	}
	if strings.Contains(err.Error(), p11test.UserPIN) || strings.Contains(err.Error(), "wrong-pin") {
		t.Fatalf("the error shows the PIN: %q", err)
	}
	if p11key.IsTransient(err) {
		t.Fatalf("%q is transient; a retry would not help", err)
	}
}

// A wrong PIN is sent to the token once: the error is permanent, and
// opening the token again does not send it again (the pkcs11-spy module
// of OpenSC, between provisiond and softhsm2, logs every call).
func TestWrongPINIsTriedOnce(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	spy, spyLog := m.Spy(t)
	wrong := filepath.Join(t.TempDir(), "wrong.pin")
	os.WriteFile(wrong, []byte("wrong-pin\n"), 0o600)
	s := p11key.Settings{Module: spy, Token: "pkcs11:token=device", PIN: "file:" + wrong}
	for try := 0; try < 3; try++ {
		_, err := p11key.OpenToken(s)
		wantError(t, err, p11key.KindPIN, "pkcs11.pin", "CKR_PIN_INCORRECT")
		if !strings.Contains(err.Error(), "file:"+wrong) {
			t.Fatalf("%q does not say where the PIN came from", err)
		}
	}
	log, err := os.ReadFile(spyLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "C_Login"); n != 1 {
		t.Fatalf("C_Login was called %d times, want 1", n)
	}
	// The right PIN, with its trailing newline, opens the token.
	s.PIN = tok.PIN
	token, err := p11key.OpenToken(s)
	if err != nil {
		t.Fatal(err)
	}
	token.Close()
}

func TestMissingModule(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	s := settings(m, tok)
	s.Module = "/usr/lib/no-such-pkcs11-module.so"
	_, err := p11key.OpenToken(s)
	wantError(t, err, p11key.KindMissing, "pkcs11.module", "/usr/lib/no-such-pkcs11-module.so: cannot read the module")

	// A shared object that is not a PKCS#11 module.
	s.Module = p11test.Library(t, "libc.so.6", "libc6")
	_, err = p11key.OpenToken(s)
	wantError(t, err, p11key.KindMissing, "pkcs11.module", "is not a PKCS#11 module")
}

func TestTokenNotFound(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	s := settings(m, tok)
	s.Token = "pkcs11:token=other"
	_, err := p11key.OpenToken(s)
	wantError(t, err, p11key.KindMissing, "pkcs11.token", "no token matches pkcs11:token=other")
	if !strings.Contains(err.Error(), "token=device") {
		t.Fatalf("%q does not list the tokens there are", err)
	}

	s.Token = "pkcs11:slot-id=0"
	_, err = p11key.OpenToken(s)
	wantError(t, err, p11key.KindConfig, "pkcs11.token", "slot-id does not select a token reliably")
}

// A token without a key type's mechanism refuses to make it, naming
// key_type, before any call that would fail in the module.
func TestMissingMechanism(t *testing.T) {
	m := p11test.SoftHSMWith(t, "CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_RSA_PKCS,CKM_RSA_PKCS_PSS")
	tok := m.InitToken("device")
	token := openToken(t, m, tok)
	_, err := token.Generate("ec-p256", p11key.NewID(), "provisiond")
	wantError(t, err, p11key.KindConfig, "key_type", "has no CKM_EC_KEY_PAIR_GEN")
	if got := token.KeyTypes(); strings.Join(got, ",") != "rsa-2048,rsa-3072" {
		t.Fatalf("KeyTypes = %v", got)
	}
	_, err = token.Generate("rsa-1024", p11key.NewID(), "provisiond")
	wantError(t, err, p11key.KindConfig, "key_type", "must be ec-p256, ec-p384, rsa-2048, rsa-3072")
}

// A pair cut short (only its public half made) is reported as half a
// pair, and Destroy removes that half.
func TestHalfPair(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	token := openToken(t, m, tok)
	key, err := token.Generate("ec-p256", p11key.NewID(), "provisiond-half")
	if err != nil {
		t.Fatal(err)
	}
	token.Close()
	// Delete the private half with pkcs11-tool, as a crash between the
	// two objects' writes leaves the pair.
	m.Tool("--token-label", "device", "--login", "--pin", p11test.UserPIN, "--delete-object", "--type", "privkey", "--id", hexID(key.ID()))
	token = openToken(t, m, tok)
	if _, err := token.Find(key.ID()); !errors.Is(err, p11key.ErrHalfPair) {
		t.Fatalf("Find: %v, want ErrHalfPair", err)
	}
	if n, err := token.Destroy(key.ID()); n != 1 || err != nil {
		t.Fatalf("Destroy: %d, %v", n, err)
	}
	if _, err := token.Find(key.ID()); !errors.Is(err, p11key.ErrNoKey) {
		t.Fatalf("Find after Destroy: %v, want ErrNoKey", err)
	}
}

func hexID(id []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(id))
	for _, b := range id {
		out = append(out, digits[b>>4], digits[b&15])
	}
	return string(out)
}
