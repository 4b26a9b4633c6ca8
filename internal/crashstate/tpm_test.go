package crashstate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"
)

// A TSS2 key file matches the certificate of the key whose public part it
// holds, and no other: the watcher's check of a TPM identity.
func TestTSS2KeyFileMatchesOnlyItsCertificate(t *testing.T) {
	mine, other := newKey(t), newKey(t)
	keyPEM := tss2File(t, &mine.PublicKey)
	if !isTSS2(keyPEM) {
		t.Fatal("a TSS2 PRIVATE KEY PEM is not recognised")
	}
	if err := matchesTSS2(certFor(t, mine), keyPEM); err != nil {
		t.Errorf("its own certificate: %v", err)
	}
	err := matchesTSS2(certFor(t, other), keyPEM)
	if err == nil || !strings.Contains(err.Error(), "not the certificate's key") {
		t.Errorf("another key's certificate: got %v", err)
	}
	if err := matchesTSS2(certFor(t, mine), keyPEM[:len(keyPEM)/2]); err == nil {
		t.Error("a key file cut in half matched")
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func certFor(t *testing.T, k *ecdsa.PrivateKey) []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "d"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// tss2File is a TSS2 PRIVATE KEY PEM holding pub, as a TPM would write it
// (the private blob is opaque to the checker).
func tss2File(t *testing.T, pub *ecdsa.PublicKey) []byte {
	point, err := pub.Bytes() // 0x04, X, Y
	if err != nil {
		t.Fatal(err)
	}
	public := tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: tpm2.TPMECCNistP256,
			Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: point[1:33]},
			Y: tpm2.TPM2BECCParameter{Buffer: point[33:]},
		}),
	}
	k := keyfile.NewTPMKey(keyfile.OIDLoadableKey, tpm2.New2B(public), tpm2.TPM2BPrivate{Buffer: []byte("opaque")})
	return k.Bytes()
}
