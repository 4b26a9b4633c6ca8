package p11key_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
)

func openToken(t *testing.T, m *p11test.Module, tok p11test.Token) *p11key.Token {
	t.Helper()
	token, err := p11key.OpenToken(settings(m, tok))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { token.Close() })
	return token
}

func settings(m *p11test.Module, tok p11test.Token) p11key.Settings {
	return p11key.Settings{Module: m.Path, Token: "pkcs11:token=" + tok.Label, PIN: tok.PIN, Label: p11key.DefaultLabel}
}

// checkKey signs a CSR with the key and verifies it, and a PSS signature
// for an RSA key, so that each signature mechanism is exercised.
func checkKey(t *testing.T, key *p11key.Key, keyType string) {
	t.Helper()
	csrPEM, err := keypair.CSR(key, "device-"+keyType)
	if err != nil {
		t.Fatalf("%s: %v", keyType, err)
	}
	csr, err := keypair.CertificateRequest(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("%s: the CSR's signature does not verify: %v", keyType, err)
	}
	if !csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Fatalf("%s: the CSR is for another key", keyType)
	}
	digest := sha256.Sum256([]byte("proof"))
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		sig, err := key.Sign(rand.Reader, digest[:], opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, opts); err != nil {
			t.Fatalf("%s: the PSS signature does not verify: %v", keyType, err)
		}
	case *ecdsa.PublicKey:
		sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatalf("%s: the ECDSA signature does not verify", keyType)
		}
	}
}

// Keys made in softhsm2 sign CSRs and are found again by id after the
// module is finalized and loaded again; Destroy removes both halves.
func TestSoftHSMKeysSurviveReinitialization(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	ids := map[string][]byte{}
	token := openToken(t, m, tok)
	for _, keyType := range p11key.KeyTypes() {
		id := p11key.NewID()
		key, err := token.Generate(keyType, id, "provisiond-"+keyType)
		if err != nil {
			t.Fatalf("%s: %v", keyType, err)
		}
		checkKey(t, key, keyType)
		ids[keyType] = id
		if !strings.Contains(key.URI(), "object=provisiond-"+keyType) || !strings.Contains(key.URI(), "type=private") {
			t.Fatalf("URI %s", key.URI())
		}
	}
	token.Close()
	out := m.Tool("--token-label", "device", "--login", "--pin", p11test.UserPIN, "--list-objects", "--type", "privkey")
	if n := strings.Count(out, "Access:     sensitive, always sensitive, never extractable"); n != len(ids) || strings.Count(out, "Usage:      sign\n") != len(ids) {
		t.Fatalf("the keys are not sensitive, never extractable signing keys:\n%s", out)
	}

	token = openToken(t, m, tok)
	for keyType, id := range ids {
		key, err := token.Find(id)
		if err != nil {
			t.Fatalf("%s after reopening: %v", keyType, err)
		}
		checkKey(t, key, keyType)
		n, err := token.Destroy(id)
		if err != nil || n != 2 {
			t.Fatalf("Destroy %s: %d objects, %v", keyType, n, err)
		}
		if _, err := token.Find(id); !errors.Is(err, p11key.ErrNoKey) {
			t.Fatalf("Find after Destroy: %v, want ErrNoKey", err)
		}
	}
	objs, err := token.List()
	if err != nil || len(objs) != 0 {
		t.Fatalf("List after destroying all: %v, %v", objs, err)
	}
}
