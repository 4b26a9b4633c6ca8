package p11key_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
)

// tpm2-pkcs11 on swtpm through tpm2-abrmd: EC P-256 and RSA-2048 keys made
// in the TPM sign CSRs and Go mutual TLS (1.3 with EC, 1.2 with RSA: the
// module lists no RSA-PSS), are found again
// after the module is loaded again, and the token refuses an import with
// a permanent error naming pkcs11.import and the token.
func TestTPM2PKCS11(t *testing.T) {
	m := p11test.TPM2(t)
	tok := m.InitToken("tpm")
	token := openToken(t, m, tok)
	ids := map[string][]byte{}
	for _, keyType := range []string{"ec-p256", "rsa-2048"} {
		id := p11key.NewID()
		key, err := token.Generate(keyType, id, "provisiond-"+keyType)
		if err != nil {
			t.Fatalf("%s: %v", keyType, err)
		}
		checkKey(t, key, keyType)
		// tpm2-pkcs11 1.9 lists no CKM_RSA_PKCS_PSS (it signs PSS when
		// asked, but does not say so): its RSA keys get TLS 1.2.
		version := uint16(tls.VersionTLS13)
		if keyType == "rsa-2048" {
			version = tls.VersionTLS12
		}
		if key.MaxTLSVersion() != version {
			t.Fatalf("%s: MaxTLSVersion %x, want %x", keyType, key.MaxTLSVersion(), version)
		}
		mutualTLS(t, key, version)
		ids[keyType] = id
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err := token.Import(ec, p11key.NewID(), "imported")
	wantError(t, err, p11key.KindConfig, "pkcs11.import", "token=tpm (manufacturer")
	//lint:ignore SA1019 the test checks that Import zeroed the key
	if ec.D.Sign() != 0 {
		t.Fatal("the refused key was not zeroed")
	}
	token.Close()

	token = openToken(t, m, tok)
	for keyType, id := range ids {
		key, err := token.Find(id)
		if err != nil {
			t.Fatalf("%s after reopening: %v", keyType, err)
		}
		checkKey(t, key, keyType)
	}
}
