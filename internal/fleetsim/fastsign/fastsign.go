// Package fastsign makes X.509 certificates and certificate requests signed once.
//
// crypto/x509 verifies every signature it has just made, to catch a faulty crypto.Signer
// (an HSM, a remote key). With an ECDSA P-256 key held in memory that check is a second
// and dearer operation than the signature itself: in a provisioning storm it is a large
// part of the signing work. This package has crypto/x509 encode the to-be-signed part,
// signs it once with crypto/ecdsa and assembles the result. Other keys go through
// crypto/x509 unchanged. A Stamp goes further for a CA that issues many certificates from
// one template: crypto/x509 encodes the template once, and each certificate encodes only
// its serial number, start of validity and public key.
package fastsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
)

// Certificate is x509.CreateCertificate(rand, tmpl, parent, pub, key).
func Certificate(rand io.Reader, tmpl, parent *x509.Certificate, pub any, key crypto.Signer) ([]byte, error) {
	k, ok := p256Key(key)
	if !ok {
		return x509.CreateCertificate(rand, tmpl, parent, pub, key)
	}
	tbs, err := toBeSigned(key.Public(), func(c crypto.Signer) error {
		_, err := x509.CreateCertificate(rand, tmpl, parent, pub, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sign(rand, k, tbs)
}

// CertificateRequest is x509.CreateCertificateRequest(rand, tmpl, key).
func CertificateRequest(rand io.Reader, tmpl *x509.CertificateRequest, key crypto.Signer) ([]byte, error) {
	k, ok := p256Key(key)
	if !ok {
		return x509.CreateCertificateRequest(rand, tmpl, key)
	}
	tbs, err := toBeSigned(key.Public(), func(c crypto.Signer) error {
		_, err := x509.CreateCertificateRequest(rand, tmpl, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sign(rand, k, tbs)
}

// toBeSigned runs create, a crypto/x509 call signing with the given signer, with a signer
// that captures the to-be-signed bytes for pub instead of signing them, and returns them.
func toBeSigned(pub crypto.PublicKey, create func(crypto.Signer) error) ([]byte, error) {
	c := &capture{pub: pub}
	err := create(c)
	if c.tbs == nil {
		if err == nil {
			err = errors.New("fastsign: crypto/x509 did not ask for a signature")
		}
		return nil, err
	}
	return c.tbs, nil
}

// p256Key says whether key is an in-memory ECDSA P-256 key whose template signature
// algorithm crypto/x509 picks as ECDSA with SHA-256.
func p256Key(key crypto.Signer) (*ecdsa.PrivateKey, bool) {
	k, ok := key.(*ecdsa.PrivateKey)
	return k, ok && k.Curve == elliptic.P256()
}

// oidECDSAWithSHA256 is the signature algorithm crypto/x509 writes for a P-256 key.
var oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}

// signed is a Certificate or a CertificationRequest: the to-be-signed part, the signature
// algorithm and the signature (RFC 5280 section 4.1, RFC 2986 section 4.2).
type signed struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

func sign(rand io.Reader, key *ecdsa.PrivateKey, tbs []byte) ([]byte, error) {
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand, key, digest[:])
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(signed{
		TBS:       asn1.RawValue{FullBytes: tbs},
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256},
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)},
	})
}

// errCaptured stops crypto/x509 once it has handed over what to sign.
var errCaptured = errors.New("fastsign: to-be-signed bytes captured")

// capture is a crypto.Signer that records the bytes crypto/x509 asks it to sign, then
// refuses, so that the caller signs them once itself.
type capture struct {
	pub crypto.PublicKey
	tbs []byte
}

func (c *capture) Public() crypto.PublicKey { return c.pub }

// Sign is reached only if crypto/x509 hashed the message itself: nothing to capture.
func (c *capture) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("fastsign: crypto/x509 passed a digest, not the message")
}

// SignMessage makes capture a crypto.MessageSigner: crypto/x509 hands it the whole
// to-be-signed encoding.
func (c *capture) SignMessage(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 {
		return nil, errors.New("fastsign: crypto/x509 chose a hash other than SHA-256")
	}
	c.tbs = append([]byte(nil), msg...)
	return nil, errCaptured
}
