package keypair

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"strings"
)

// keyTypes is the one table of the key types a device may generate: the
// config's key_type values, in the order error messages list them.
var keyTypes = []struct {
	name     string
	generate func() (crypto.Signer, error)
}{
	{"ec-p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	{"ec-p384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
	{"rsa-2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
	{"rsa-3072", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) }},
}

// KeyTypes lists the key types Generate takes.
func KeyTypes() []string {
	names := make([]string, len(keyTypes))
	for i, k := range keyTypes {
		names[i] = k.name
	}
	return names
}

// ValidKeyType reports whether Generate takes keyType.
func ValidKeyType(keyType string) bool {
	for _, k := range keyTypes {
		if k.name == keyType {
			return true
		}
	}
	return false
}

// Generate creates a private key of the given type (see KeyTypes).
func Generate(keyType string) (crypto.Signer, error) {
	for _, k := range keyTypes {
		if k.name == keyType {
			return k.generate()
		}
	}
	return nil, fmt.Errorf("unknown key type %q: want %s", keyType, listTypes())
}

// listTypes renders KeyTypes for an error: "a, b, c or d".
func listTypes() string {
	names := KeyTypes()
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Encode writes a key as PKCS #8 PEM, which every TLS stack reads.
func Encode(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// CSR signs a certificate request for commonName with key.
func CSR(key crypto.Signer, commonName string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: commonName},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// CheckPair reports whether a certificate and key PEM form a usable pair.
func CheckPair(certPEM, keyPEM []byte) error {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		// The tls error never includes key material.
		return err
	}
	return nil
}
