package claimkey_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// factoryToken is a softhsm2 token "claims" holding an EC claim key that
// pkcs11-tool wrote (private object only, label "claim", id 01), its
// certificate, and the devices to reach it.
func factoryToken(t *testing.T) (m *p11test.Module, tok p11test.Token, ca *tpmtest.CA, certFile string, dev claimkey.Devices) {
	t.Helper()
	m = p11test.SoftHSM(t)
	tok = m.InitToken("claims")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m.WriteKey(tok, key, "claim", []byte{1})
	ca = tpmtest.NewCA(t)
	certFile = writeFile(t, t.TempDir(), "claim.crt", ca.Issue("claim", key.Public()))
	return m, tok, ca, certFile, claimkey.Devices{PKCS11: p11key.Settings{Module: m.Path, PIN: tok.PIN}}
}

// A claim key put into a token at the factory signs the claim's TLS
// handshake there, selected by its label or its id, and the token is
// usable again after closeKey.
func TestClaimKeyInAToken(t *testing.T) {
	_, _, ca, certFile, dev := factoryToken(t)
	for _, spec := range []string{"pkcs11:token=claims;object=claim", "pkcs11:token=claims;id=%01;type=private"} {
		cert, closeKey, err := claimkey.Certificate(certFile, spec, dev)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if _, ok := cert.PrivateKey.(*p11key.Key); !ok {
			t.Fatalf("%s: the key is a %T, not the token's", spec, cert.PrivateKey)
		}
		handshake(t, ca, cert)
		if err := closeKey(); err != nil {
			t.Fatal(err)
		}
		// closeKey closed the token's session: the key signs no more.
		if _, err := cert.PrivateKey.(crypto.Signer).Sign(nil, make([]byte, 32), crypto.SHA256); err == nil {
			t.Fatalf("%s: the key still signs after closeKey", spec)
		}
	}
}

// An RSA claim key in the token signs TLS 1.3 (RSA-PSS) there.
func TestRSAClaimKeyInAToken(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("claims")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	m.WriteKey(tok, key, "claim", []byte{2})
	ca := tpmtest.NewCA(t)
	certFile := writeFile(t, t.TempDir(), "claim.crt", ca.Issue("claim", key.Public()))
	cert, closeKey, err := claimkey.Certificate(certFile, "pkcs11:token=claims;object=claim",
		claimkey.Devices{PKCS11: p11key.Settings{Module: m.Path, PIN: tok.PIN}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeKey()
	handshake(t, ca, cert)
}

// Each way a token claim key fails names the setting to fix, says whether
// waiting helps, and never shows the PIN.
func TestClaimKeyInATokenErrors(t *testing.T) {
	m, tok, ca, certFile, dev := factoryToken(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherCert := writeFile(t, t.TempDir(), "other.crt", ca.Issue("claim", other.Public()))
	dup, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	m.WriteKey(tok, dup, "dup", []byte{3})
	m.WriteKey(tok, dup, "dup", []byte{4})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384Cert := writeFile(t, t.TempDir(), "p384.crt", ca.Issue("claim", p384.Public()))
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaCert := writeFile(t, t.TempDir(), "rsa.crt", ca.Issue("claim", rsaKey.Public()))
	wrongPIN := filepath.Join(t.TempDir(), "wrong.pin")
	if err := os.WriteFile(wrongPIN, []byte("wrong-9999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPIN := func(pin string) claimkey.Devices { d := dev; d.PKCS11.PIN = pin; return d }
	noModule := dev
	noModule.PKCS11.Module = ""

	for _, c := range []struct {
		name, cert, spec string
		dev              claimkey.Devices
		setting, words   string
		is               error
		kind             p11key.Kind
	}{
		{"not the certificate's", otherCert, "pkcs11:token=claims;object=claim", dev, claimkey.Setting, "is not the certificate's", p11key.ErrNotPair, p11key.KindConfig},
		{"another curve", p384Cert, "pkcs11:token=claims;object=claim", dev, claimkey.Setting, "is not the certificate's", p11key.ErrNotPair, p11key.KindConfig},
		{"another key type", rsaCert, "pkcs11:token=claims;object=claim", dev, claimkey.Setting, "not of the certificate's key type", nil, p11key.KindConfig},
		{"no such key", certFile, "pkcs11:token=claims;object=nope", dev, claimkey.Setting, "no private key with pkcs11:object=nope", p11key.ErrNoKey, p11key.KindMissing},
		{"two keys", certFile, "pkcs11:token=claims;object=dup", dev, claimkey.Setting, "selects 2 private keys", nil, p11key.KindConfig},
		{"no such token", certFile, "pkcs11:token=elsewhere;object=claim", dev, claimkey.Setting, "no token matches pkcs11:token=elsewhere", nil, p11key.KindMissing},
		{"wrong PIN", certFile, "pkcs11:token=claims;object=claim", withPIN("file:" + wrongPIN), p11key.SettingPIN, "wrong PIN", nil, p11key.KindPIN},
		{"no module", certFile, "pkcs11:token=claims;object=claim", noModule, p11key.SettingModule, "not set: claim.private_key is a key in a PKCS#11 token", nil, p11key.KindConfig},
	} {
		_, closeKey, err := claimkey.Certificate(c.cert, c.spec, c.dev)
		closeKey()
		var pe *p11key.Error
		if !errors.As(err, &pe) || pe.Setting != c.setting || pe.Kind != c.kind || !strings.Contains(err.Error(), c.words) {
			t.Errorf("%s: %v, want a %v error naming %s with %q", c.name, err, c.kind, c.setting, c.words)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v does not wrap %v", c.name, err, c.is)
		}
		if p11key.IsTransient(err) {
			t.Errorf("%s: %v is transient; waiting does not cure it", c.name, err)
		}
		if strings.Contains(err.Error(), p11test.UserPIN) || strings.Contains(err.Error(), "wrong-9999") {
			t.Errorf("%s: %v shows the PIN", c.name, err)
		}
	}
	// The wrong PIN was sent once: the good one still logs in.
	if _, closeKey, err := claimkey.Certificate(certFile, "pkcs11:token=claims;object=claim", dev); err != nil {
		t.Fatalf("the right PIN after a wrong one: %v", err)
	} else {
		closeKey()
	}
}

// A pkcs11: claim.private_key must select one key, and never carries the
// PIN or the module.
func TestParseTokenURI(t *testing.T) {
	if src, err := claimkey.Parse("pkcs11:token=claims;object=claim"); err != nil || src.Token == nil || src.Token.Object != "claim" || src.Path != "" {
		t.Fatalf("Parse: %+v, %v", src, err)
	}
	if claimkey.IsPath("pkcs11:token=claims;object=claim") {
		t.Fatal("a pkcs11: URI is taken for a path")
	}
	for _, c := range []struct{ spec, words string }{
		{"pkcs11:token=claims", "must select the claim key by object=LABEL or id="},
		{"pkcs11:token=claims;object=claim;type=cert", "type= is private or left out"},
		{"pkcs11:token=claims;object=claim?pin-value=1234", "query attributes"},
		{"pkcs11:token=claims;object=claim;pin-value=1234", "unknown attribute pin-value"},
		{"pkcs11:slot-id=1;object=claim", "slot-id does not select a token reliably"},
	} {
		_, err := claimkey.Parse(c.spec)
		var ce *claimkey.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.words) || !strings.HasPrefix(err.Error(), claimkey.Setting+": ") {
			t.Errorf("Parse(%q) = %v, want a claim.private_key error with %q", c.spec, err, c.words)
		}
		if err != nil && strings.Contains(err.Error(), "1234") {
			t.Errorf("Parse(%q): %v shows the PIN", c.spec, err)
		}
	}
	if _, _, err := claimkey.Open("pkcs11:token=claims;object=claim", claimkey.Devices{}); err == nil {
		t.Fatal("Open without the certificate opened a token key")
	}
}
