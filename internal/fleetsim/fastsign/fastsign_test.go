package fastsign

import (
	"bytes"
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

func newCA(t testing.TB) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func TestCertificateIsWhatCryptoX509Makes(t *testing.T) {
	ca, caKey := newCA(t)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore: time.Now().Add(-time.Minute).Truncate(time.Second), NotAfter: time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	der, err := Certificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	got := assertMadeByCryptoX509(t, der, tmpl, ca, leafKey.Public(), caKey)
	if _, err := got.Verify(x509.VerifyOptions{Roots: pool(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("chain: %v", err)
	}
}

func TestCertificateRequestIsWhatCryptoX509Makes(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-1"}}
	der, err := CertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := got.CheckSignature(); err != nil {
		t.Fatalf("signature: %v", err)
	}
	ref, _ := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	want, _ := x509.ParseCertificateRequest(ref)
	if !bytes.Equal(got.RawTBSCertificateRequest, want.RawTBSCertificateRequest) || got.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Fatalf("request differs from crypto/x509's: %v", got.SignatureAlgorithm)
	}
}

func TestOtherKeysGoThroughCryptoX509(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := CertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "rsa"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil || csr.CheckSignature() != nil || csr.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Fatalf("RSA request: %v %v", err, csr.SignatureAlgorithm)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, err = CertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "p384"}}, p384)
	if err != nil {
		t.Fatal(err)
	}
	if csr, err := x509.ParseCertificateRequest(der); err != nil || csr.CheckSignature() != nil || csr.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Fatalf("P-384 request: %v", err)
	}
}

// assertMadeByCryptoX509 checks that der is signed by ca and, but for the (randomised)
// ECDSA signature, is the bytes crypto/x509 makes from the same template and keys.
func assertMadeByCryptoX509(t *testing.T, der []byte, tmpl, ca *x509.Certificate, pub any, caKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	got, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := got.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("signature: %v", err)
	}
	ref, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	want, err := x509.ParseCertificate(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.RawTBSCertificate, want.RawTBSCertificate) || got.SignatureAlgorithm != want.SignatureAlgorithm {
		t.Fatalf("the to-be-signed part or the algorithm differs from crypto/x509's:\n got %x\nwant %x",
			got.RawTBSCertificate, want.RawTBSCertificate)
	}
	return got
}

func pool(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func BenchmarkCertificate(b *testing.B) {
	ca, caKey := newCA(b)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	b.Run("fastsign", func(b *testing.B) {
		for b.Loop() {
			if _, err := Certificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto-x509", func(b *testing.B) {
		for b.Loop() {
			if _, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey); err != nil {
				b.Fatal(err)
			}
		}
	})
}
