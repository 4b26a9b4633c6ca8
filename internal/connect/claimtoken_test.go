package connect

import (
	"os"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
)

// A claim key in a token whose PIN is wrong passes the claim over, naming
// pkcs11.pin and never the PIN, and the PIN goes to the token once however
// often the claims are read (opensc's spy module counts the C_Login
// calls); the right PIN makes the claim usable again.
func TestClaimKeyInATokenWithAWrongPINIsSentOnce(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("claims")
	spy, spyLog := m.Spy(t)

	cfg := testConfig(t, "127.0.0.1:8883")
	keyPEM, err := os.ReadFile(cfg.Claims[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keypair.PrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	m.WriteKey(tok, key, "claim", []byte{1})
	if err := os.Remove(cfg.Claims[0].PrivateKey); err != nil {
		t.Fatal(err)
	}
	cfg.Claims[0].PrivateKey = "pkcs11:token=claims;object=claim"
	cfg.PKCS11.Module, cfg.PKCS11.PIN = spy, tok.PIN
	if err := os.WriteFile(tok.PINFile, []byte("wrong-pin-8765\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := New(cfg, Options{ClientID: "gateway-0001"})
	for range 3 {
		c := d.Claims()[0]
		if c.ReadError == nil || !strings.Contains(c.ReadError.Error(), "pkcs11.pin") || strings.Contains(c.ReadError.Error(), "wrong-pin-8765") {
			t.Fatalf("claim with a wrong PIN: %v, want pkcs11.pin named and the PIN never", c.ReadError)
		}
	}
	logins := func() int {
		log, err := os.ReadFile(spyLog)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(log), "C_Login")
	}
	if n := logins(); n != 1 {
		t.Fatalf("C_Login was called %d times for three readings of the claims, want 1", n)
	}

	if err := os.WriteFile(tok.PINFile, []byte(p11test.UserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := d.Claims()[0]; c.ReadError != nil || c.CertificateID == "" {
		t.Fatalf("claim with the right PIN: %+v", c)
	}
	cert, closeKey, err := d.ClaimFiles(cfg.Claims[0].Certificate, cfg.Claims[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	defer closeKey()
	if _, ok := cert.PrivateKey.(interface{ MaxTLSVersion() uint16 }); !ok {
		t.Fatalf("the claim's key is a %T, not the token's", cert.PrivateKey)
	}
}
