package tpmkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/keypair"
)

var hashAlgs = map[crypto.Hash]tpm2.TPMAlgID{
	crypto.SHA256: tpm2.TPMAlgSHA256,
	crypto.SHA384: tpm2.TPMAlgSHA384,
	crypto.SHA512: tpm2.TPMAlgSHA512,
}

// Sign signs digest in the TPM. opts.HashFunc() names the hash that made
// digest (SHA-256, -384 or -512; the TPM signs digests, never raw data);
// for an RSA key, *rsa.PSSOptions selects RSA-PSS (TLS 1.3) and anything
// else PKCS #1 v1.5. ECDSA signatures are ASN.1 DER, as crypto.Signer
// requires. rand is unused: the TPM draws its own randomness.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := k.sign(digest, opts)
	if err != nil {
		k.lastErr.Store(&err)
		return nil, err
	}
	k.lastErr.Store(nil)
	signatures.Add(1)
	return sig, nil
}

// SignError returns the error of the last Sign call if it failed. A TLS
// handshake reports a signer's failure only as text; the dialer asks this
// to classify the failure as the TPM's (transient, lockout, …).
func (k *Key) SignError() error {
	if p := k.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (k *Key) sign(digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	alg, ok := hashAlgs[h]
	if !ok {
		return nil, fmt.Errorf("tpm: cannot sign with hash %v: SHA-256, SHA-384 or SHA-512 digests only", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("tpm: the digest is %d bytes, %v makes %d", len(digest), h, h.Size())
	}
	pss, isPSS := opts.(*rsa.PSSOptions)
	var scheme tpm2.TPMTSigScheme
	switch k.pub.Type {
	case tpm2.TPMAlgECC:
		scheme = sigScheme(tpm2.TPMAlgECDSA, alg)
	case tpm2.TPMAlgRSA:
		if isPSS {
			scheme = sigScheme(tpm2.TPMAlgRSAPSS, alg)
		} else {
			scheme = sigScheme(tpm2.TPMAlgRSASSA, alg)
		}
	default:
		return nil, fmt.Errorf("tpm: unsupported key type %v", k.pub.Type)
	}
	if isPSS && k.pub.Type != tpm2.TPMAlgRSA {
		return nil, errors.New("tpm: RSA-PSS options for a key that is not RSA")
	}
	var rsp *tpm2.SignResponse
	k.tpm.mu.Lock()
	err := k.use(func(h tpm2.TPMHandle) error {
		return retried(func() (err error) {
			rsp, err = tpm2.Sign{
				KeyHandle: tpm2.AuthHandle{Handle: h, Name: k.name, Auth: tpm2.PasswordAuth(nil)},
				Digest:    tpm2.TPM2BDigest{Buffer: digest},
				InScheme:  scheme,
				// A non-restricted key signs any digest: no ticket needed.
				Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
			}.Execute(k.tpm.conn)
			return err
		})
	})
	k.tpm.mu.Unlock()
	if err != nil {
		return nil, tpmError("sign", k.setting, err)
	}
	switch k.pub.Type {
	case tpm2.TPMAlgECC:
		s, err := rsp.Signature.Signature.ECDSA()
		if err != nil {
			return nil, fmt.Errorf("tpm: signature: %w", err)
		}
		return asn1.Marshal(struct{ R, S *big.Int }{
			new(big.Int).SetBytes(s.SignatureR.Buffer),
			new(big.Int).SetBytes(s.SignatureS.Buffer),
		})
	default:
		get := rsp.Signature.Signature.RSASSA
		if isPSS {
			get = rsp.Signature.Signature.RSAPSS
		}
		s, err := get()
		if err != nil {
			return nil, fmt.Errorf("tpm: signature: %w", err)
		}
		sig := s.Sig.Buffer
		if isPSS {
			// The TPM picks the salt length (the hash's length on current
			// TPMs, the maximum on some old ones); the caller's verifier may
			// insist on one (TLS 1.3: the hash's). Check, rather than send a
			// signature the peer rejects with a vague alert.
			if err := rsa.VerifyPSS(k.public.(*rsa.PublicKey), h, digest, sig, pss); err != nil {
				return nil, fmt.Errorf("tpm: this TPM's RSA-PSS salt length does not fit the requested one (%d)", pss.SaltLength)
			}
		}
		return sig, nil
	}
}

func sigScheme(scheme, hash tpm2.TPMAlgID) tpm2.TPMTSigScheme {
	return tpm2.TPMTSigScheme{
		Scheme:  scheme,
		Details: tpm2.NewTPMUSigScheme(scheme, &tpm2.TPMSSchemeHash{HashAlg: hash}),
	}
}

// TLSCertificate pairs certificate chain PEM with the key for crypto/tls.
// It fails when the certificate is not for this key.
func (k *Key) TLSCertificate(chainPEM []byte) (tls.Certificate, error) {
	cert, err := keypair.TLSCertificate(chainPEM, k)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert.SupportedSignatureAlgorithms = k.signatureSchemes()
	return cert, nil
}

// signatureSchemes are the TLS schemes this key signs, so that a peer
// never negotiates one the TPM refuses (SHA-1, or a curve's other hash in
// TLS 1.3).
func (k *Key) signatureSchemes() []tls.SignatureScheme {
	switch pub := k.public.(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve.Params().BitSize {
		case 384:
			return []tls.SignatureScheme{tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP521AndSHA512}
		default:
			return []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512}
		}
	case *rsa.PublicKey:
		return []tls.SignatureScheme{
			tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512,
			tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512,
		}
	}
	return nil
}
