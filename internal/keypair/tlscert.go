package keypair

import (
	"crypto"
	"crypto/tls"
	"encoding/pem"
)

// TLSCertificate pairs a PEM certificate chain (leaf first) with a signer,
// which may keep its private half out of reach (in a TPM), after checking
// that they match. It stands in for tls.X509KeyPair, which needs the
// private key's PEM.
func TLSCertificate(chainPEM []byte, key crypto.Signer) (tls.Certificate, error) {
	certs, err := Certificates(chainPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := Match(certs[0], key); err != nil {
		return tls.Certificate{}, err
	}
	out := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out, nil
		}
		if b.Type == "CERTIFICATE" {
			out.Certificate = append(out.Certificate, b.Bytes)
		}
	}
}
