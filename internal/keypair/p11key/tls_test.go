package p11key_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// mutualTLS makes a certificate for key and completes a Go mutual TLS
// handshake at version with it, signing in the token.
func mutualTLS(t *testing.T, key *p11key.Key, version uint16) {
	t.Helper()
	ca := tpmtest.NewCA(t)
	cn := "device-" + key.Label()
	cert, err := key.TLSCertificate(ca.Issue(cn, key.Public()))
	if err != nil {
		t.Fatal(err)
	}
	addr, clients := tpmtest.MutualTLSServer(t, ca, version)
	conn, err := tls.Dial("tcp", addr, &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca.Pool(),
		ServerName:   "localhost",
		MaxVersion:   key.MaxTLSVersion(),
	})
	if err != nil {
		t.Fatalf("%s, TLS %x: %v (signer: %v)", key.Label(), version, err, key.SignError())
	}
	defer conn.Close()
	if v := conn.ConnectionState().Version; v != version {
		t.Fatalf("negotiated TLS %x, want %x", v, version)
	}
	select {
	case got := <-clients:
		if got != cn {
			t.Fatalf("server saw %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server never verified the client")
	}
}

// Go mutual TLS 1.3 with keys in softhsm2: ECDSA, and RSA-PSS.
func TestSoftHSMMutualTLS13(t *testing.T) {
	m := p11test.SoftHSM(t)
	token := openToken(t, m, m.InitToken("device"))
	for _, keyType := range []string{"ec-p256", "rsa-2048"} {
		key, err := token.Generate(keyType, p11key.NewID(), keyType)
		if err != nil {
			t.Fatal(err)
		}
		if key.MaxTLSVersion() != tls.VersionTLS13 {
			t.Fatalf("%s: MaxTLSVersion %x", keyType, key.MaxTLSVersion())
		}
		mutualTLS(t, key, tls.VersionTLS13)
	}
}

// An RSA key in a token without CKM_RSA_PKCS_PSS offers PKCS #1 v1.5
// only: TLS 1.2 works, and the key says it cannot do TLS 1.3.
func TestTokenWithoutPSSGetsTLS12(t *testing.T) {
	m := p11test.SoftHSMWith(t, "CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_RSA_PKCS")
	token := openToken(t, m, m.InitToken("device"))
	key, err := token.Generate("rsa-2048", p11key.NewID(), "rsa")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range key.SignatureSchemes() {
		if s == tls.PSSWithSHA256 || s == tls.PSSWithSHA384 || s == tls.PSSWithSHA512 {
			t.Fatalf("SignatureSchemes offers %v without CKM_RSA_PKCS_PSS", s)
		}
	}
	if key.MaxTLSVersion() != tls.VersionTLS12 {
		t.Fatalf("MaxTLSVersion %x, want TLS 1.2", key.MaxTLSVersion())
	}
	mutualTLS(t, key, tls.VersionTLS12)
}

// An imported key is sensitive, never extractable and signs in the
// token; the key given is zeroed at once.
func TestSoftHSMImport(t *testing.T) {
	m := p11test.SoftHSM(t)
	token := openToken(t, m, m.InitToken("device"))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub := ec.PublicKey
	key, err := token.Import(ec, p11key.NewID(), "imported-ec")
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the test checks that Import zeroed the key
	if ec.D.Sign() != 0 {
		t.Fatal("the EC key's secret was not zeroed")
	}
	if !key.Public().(*ecdsa.PublicKey).Equal(&ecPub) {
		t.Fatal("the imported EC key has another public key")
	}
	checkKey(t, key, "ec-p256")

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPub := rsaKey.PublicKey
	key, err = token.Import(rsaKey, p11key.NewID(), "imported-rsa")
	if err != nil {
		t.Fatal(err)
	}
	if rsaKey.D.Sign() != 0 || rsaKey.Primes[0].Sign() != 0 || rsaKey.Primes[1].Sign() != 0 {
		t.Fatal("the RSA key's secrets were not zeroed")
	}
	if !key.Public().(*rsa.PublicKey).Equal(&rsaPub) {
		t.Fatal("the imported RSA key has another public key")
	}
	checkKey(t, key, "rsa-2048")

	// The token keeps both private keys to itself, for signing only.
	out := m.Tool("--token-label", "device", "--login", "--pin", p11test.UserPIN, "--list-objects", "--type", "privkey")
	if strings.Count(out, "Usage:      sign\n") != 2 || strings.Count(out, "Access:     sensitive\n") != 2 {
		t.Fatalf("the imported keys are not sensitive signing keys:\n%s", out)
	}
}
