package fleetsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"
)

// BenchmarkSignCSR measures the CA work of one CreateCertificateFromCsr: parse
// and verify the device's CSR, then sign its key into a device certificate.
func BenchmarkSignCSR(b *testing.B) {
	now := time.Now()
	ca, err := newAuthority(now)
	if err != nil {
		b.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bench"}}, key)
	if err != nil {
		b.Fatal(err)
	}
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	b.ReportAllocs()
	for b.Loop() {
		csr, aerr := parseCSR(csrPEM)
		if aerr != nil {
			b.Fatal(aerr)
		}
		cert, err := ca.issueDevice(csr.PublicKey, nil, now)
		if err != nil {
			b.Fatal(err)
		}
		if certificateID(cert) == "" {
			b.Fatal("empty certificate id")
		}
	}
}

// BenchmarkIssueDevice measures signing alone: one device certificate for an
// EC P-256 key by the emulator's EC P-256 CA.
func BenchmarkIssueDevice(b *testing.B) {
	now := time.Now()
	ca, err := newAuthority(now)
	if err != nil {
		b.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.issueDevice(&key.PublicKey, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}
