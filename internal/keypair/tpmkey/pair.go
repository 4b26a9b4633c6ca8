package tpmkey

import (
	"crypto"
	"crypto/tls"
	"fmt"

	"github.com/provisiond/provisiond/internal/keypair"
)

// AnyPublic returns the public key of a private key file of either kind:
// a TSS2 PRIVATE KEY file (no TPM needed) or a software key PEM. It lets
// checks of a handed-over identity pair its files whatever the key store.
func AnyPublic(keyPEM []byte) (crypto.PublicKey, error) {
	if IsFile(keyPEM) {
		return FilePublic(keyPEM)
	}
	key, err := keypair.PrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	return key.Public(), nil
}

// CheckPair reports whether certPEM is for the key in keyPEM, a TSS2 file
// or a software key PEM.
func CheckPair(certPEM, keyPEM []byte) error {
	if !IsFile(keyPEM) {
		return keypair.CheckPair(certPEM, keyPEM)
	}
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		return err
	}
	pub, err := FilePublic(keyPEM)
	if err != nil {
		return err
	}
	return keypair.MatchPublic(cert, pub)
}

// KeyPair is tls.X509KeyPair for a key file of either kind. A TSS2 file's
// key is loaded into the TPM that open gives (called only then) and signs
// the handshake there; key is nil for a software key.
func KeyPair(certPEM, keyPEM []byte, open func() (*TPM, error)) (cert tls.Certificate, key *Key, err error) {
	if !IsFile(keyPEM) {
		cert, err = tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return cert, nil, fmt.Errorf("certificate and key do not form a pair: %w", err)
		}
		return cert, nil, nil
	}
	t, err := open()
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	if key, err = t.LoadKey(keyPEM, ""); err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err = key.TLSCertificate(certPEM)
	return cert, key, err
}
