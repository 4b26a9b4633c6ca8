package fastsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

func deviceTemplate() *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: "AWS IoT Certificate"},
		NotAfter: time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC), KeyUsage: x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true}
}

// A stamped certificate is, but for the (randomised) signature, the bytes crypto/x509
// makes from the same template, serial, start of validity and key.
func TestStampIsWhatCryptoX509Makes(t *testing.T) {
	ca, caKey := newCA(t)
	stamp, err := NewStamp(deviceTemplate(), ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	highBit := new(big.Int).Lsh(big.NewInt(1), 127) // its encoding needs a leading zero
	for _, tt := range []struct {
		name      string
		pub       crypto.PublicKey
		serial    *big.Int
		notBefore time.Time
	}{
		{"P-256", p256.Public(), big.NewInt(42), time.Now().Add(-time.Minute).Truncate(time.Second)},
		{"P-256, fractions of a second", p256.Public(), big.NewInt(43), time.Date(2027, 3, 4, 5, 6, 7, 891011, time.UTC)},
		{"P-384, high-bit serial", p384.Public(), highBit, time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC)},
		{"P-521, local time", p521.Public(), big.NewInt(1<<40 + 7), time.Date(2031, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))},
		{"RSA-2048, 1950", rsa2048.Public(), big.NewInt(255), time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"P-256, GeneralizedTime", p256.Public(), big.NewInt(128), time.Date(2050, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"P-256, before 1950", p256.Public(), big.NewInt(3), time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			der, err := stamp.Certificate(rand.Reader, tt.serial, tt.notBefore, tt.pub)
			if err != nil {
				t.Fatal(err)
			}
			tmpl := deviceTemplate()
			tmpl.SerialNumber, tmpl.NotBefore = tt.serial, tt.notBefore
			assertMadeByCryptoX509(t, der, tmpl, ca, tt.pub, caKey)
		})
	}
}

func TestStampRefuses(t *testing.T) {
	ca, caKey := newCA(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewStamp(deviceTemplate(), ca, rsaKey); err == nil {
		t.Error("NewStamp accepted a key that is not ECDSA P-256")
	}
	caTmpl := deviceTemplate()
	caTmpl.IsCA = true
	if _, err := NewStamp(caTmpl, ca, caKey); err == nil {
		t.Error("NewStamp accepted a CA template whose SubjectKeyId depends on the key")
	}
	stamp, err := NewStamp(deviceTemplate(), ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := stamp.Certificate(rand.Reader, big.NewInt(0), time.Now(), leaf.Public()); err == nil {
		t.Error("a zero serial number was accepted")
	}
	if _, err := stamp.Certificate(rand.Reader, big.NewInt(1), time.Now(), struct{}{}); err == nil {
		t.Error("an unsupported public key was accepted")
	}
}
