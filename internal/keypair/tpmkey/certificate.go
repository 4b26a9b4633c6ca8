package tpmkey

import (
	"crypto"
	"crypto/tls"
	"encoding/pem"
	"errors"

	"github.com/provisiond/provisiond/internal/keypair"
)

// certificateFor builds a tls.Certificate from chain PEM and a signer
// whose private half is out of reach, checking that they match.
func certificateFor(chainPEM []byte, k *Key) (tls.Certificate, error) {
	certs, err := keypair.Certificates(chainPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := keypair.Match(certs[0], k); err != nil {
		return tls.Certificate{}, errors.New("the certificate is not for the TPM key")
	}
	out := tls.Certificate{PrivateKey: crypto.Signer(k), Leaf: certs[0], SupportedSignatureAlgorithms: k.signatureSchemes()}
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			out.Certificate = append(out.Certificate, b.Bytes)
		}
	}
	return out, nil
}
