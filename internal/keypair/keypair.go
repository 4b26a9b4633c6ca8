// Package keypair parses PEM certificates, certificate requests and private
// keys, and checks that they belong together. Its errors never quote key material.
package keypair

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// Certificates parses every CERTIFICATE block in data. It fails when there
// is none or one does not parse.
func Certificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// Certificate parses the first CERTIFICATE block in data.
func Certificate(data []byte) (*x509.Certificate, error) {
	certs, err := Certificates(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// CertificateRequest parses the first CERTIFICATE REQUEST block in data.
// Its signature is not checked.
func CertificateRequest(data []byte) (*x509.CertificateRequest, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM certificate request found")
		}
		if block.Type != "CERTIFICATE REQUEST" {
			continue
		}
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the CERTIFICATE REQUEST block does not parse: %w", err)
		}
		return csr, nil
	}
}

// PrivateKey parses the first private key block in data: PKCS #8,
// PKCS #1 (RSA) or SEC 1 (EC). Encrypted keys are refused.
func PrivateKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; provisiond needs it unencrypted")
		default:
			continue
		}
		// The parser's own message is dropped: only the kind of failure matters
		// and nothing derived from the key should reach a log.
		if err != nil {
			return nil, fmt.Errorf("the %s block does not parse", block.Type)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return signer, nil
	}
}

// Match reports whether key is the private half of cert's public key.
func Match(cert *x509.Certificate, key crypto.Signer) error {
	return MatchPublic(cert, key.Public())
}

// MatchPublic reports whether pub is cert's public key: the check for a
// private key out of reach (in a TPM), known by its public half.
func MatchPublic(cert *x509.Certificate, pub crypto.PublicKey) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	eq, ok := pub.(equaler)
	if !ok {
		return fmt.Errorf("unsupported private key type %T", pub)
	}
	if !eq.Equal(cert.PublicKey) {
		return errors.New("the private key does not match the certificate")
	}
	return nil
}

// ID is the AWS IoT certificate id: the hex SHA-256 of the certificate's DER.
func ID(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}
