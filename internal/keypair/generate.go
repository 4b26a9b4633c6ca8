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

// KeyType is a key_type value and what it makes: an ECDSA key on Curve,
// or an RSA key of Bits bits.
type KeyType struct {
	Name  string
	Curve elliptic.Curve // nil for RSA
	Bits  int            // RSA modulus size; 0 for EC
	// InTPM: TPMs commonly make it (rsa-3072 is left out: few implement it).
	InTPM bool
}

// keyTypes is the one table of the key types a device may generate: the
// config's key_type values, in the order error messages list them. Key
// stores (files, TPM, tokens) make keys from it.
var keyTypes = []KeyType{
	{Name: "ec-p256", Curve: elliptic.P256(), InTPM: true},
	{Name: "ec-p384", Curve: elliptic.P384(), InTPM: true},
	{Name: "rsa-2048", Bits: 2048, InTPM: true},
	{Name: "rsa-3072", Bits: 3072},
}

// KeyTypes lists the key types Generate takes.
func KeyTypes() []string { return KeyTypesWhere(func(KeyType) bool { return true }) }

// KeyTypesWhere lists the key types for which keep is true, in order.
func KeyTypesWhere(keep func(KeyType) bool) []string {
	var names []string
	for _, k := range keyTypes {
		if keep(k) {
			names = append(names, k.Name)
		}
	}
	return names
}

// LookupKeyType returns the key type named name.
func LookupKeyType(name string) (KeyType, bool) {
	for _, k := range keyTypes {
		if k.Name == name {
			return k, true
		}
	}
	return KeyType{}, false
}

// ValidKeyType reports whether Generate takes keyType.
func ValidKeyType(keyType string) bool {
	_, ok := LookupKeyType(keyType)
	return ok
}

// Generate creates a private key of the given type (see KeyTypes).
func Generate(keyType string) (crypto.Signer, error) {
	k, ok := LookupKeyType(keyType)
	if !ok {
		return nil, fmt.Errorf("unknown key type %q: want %s", keyType, listTypes())
	}
	if k.Curve != nil {
		return ecdsa.GenerateKey(k.Curve, rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, k.Bits)
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
