package keypair

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T, key crypto.Signer) ([]byte, *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert
}

func TestKeyFormatsParseAndMatch(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		block *pem.Block
	}{
		{"EC SEC 1", ec, &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}},
		{"EC P-384 PKCS #8", ec384, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(ec384)}},
		{"RSA PKCS #1", rsaKey, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}},
		{"RSA PKCS #8", rsaKey, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(rsaKey)}},
		{"Ed25519 PKCS #8", edKey, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(edKey)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, _ := selfSigned(t, tc.key)
			cert, err := Certificate(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			// EC parameters blocks precede keys in openssl output; they are skipped.
			data := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
				pem.EncodeToMemory(tc.block)...)
			key, err := PrivateKey(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := Match(cert, key); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMismatch(t *testing.T) {
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, cert := selfSigned(t, a)
	if err := Match(cert, b); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("Match(other key) = %v, want a mismatch", err)
	}
}

func TestPrivateKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "no PEM private key"},
		{"certificate only", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "no PEM private key"},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
		{"garbage body", "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n", "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PrivateKey([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PrivateKey = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "U0VDUkVU") || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error %q quotes the key", err)
			}
		})
	}
}

func TestCertificatesAndID(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p1, c1 := selfSigned(t, k1)
	p2, _ := selfSigned(t, k2)
	certs, err := Certificates(append(append(p1, []byte("comment between blocks\n")...), p2...))
	if err != nil || len(certs) != 2 {
		t.Fatalf("Certificates = %d, %v; want 2", len(certs), err)
	}
	sum := sha256.Sum256(c1.Raw)
	if got := ID(c1); got != hex.EncodeToString(sum[:]) || len(got) != 64 {
		t.Fatalf("ID = %q", got)
	}
	if _, err := Certificates([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
		t.Fatal("Certificates(bad DER) = nil, want an error")
	}
	if _, err := Certificates(nil); err == nil {
		t.Fatal("Certificates(nil) = nil, want an error")
	}
}

func TestCertificateRequest(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := selfSigned(t, k)
	// Blocks of other types before the request are skipped.
	data := append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})...)
	csr, err := CertificateRequest(data)
	if err != nil {
		t.Fatal(err)
	}
	if !k.PublicKey.Equal(csr.PublicKey) {
		t.Fatal("CertificateRequest returned another key's request")
	}
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "no PEM certificate request"},
		{"certificate only", string(certPEM), "no PEM certificate request"},
		{"garbage body", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "does not parse"},
	} {
		if _, err := CertificateRequest([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CertificateRequest = %v, want %q", tc.name, err, tc.want)
		}
	}
}
