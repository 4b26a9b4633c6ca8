package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
)

// signingHash is the hash a key of this type signs messages with: the
// curve's own for ECDSA, SHA-256 for RSA (PKCS #1 v1.5), none for Ed25519.
func signingHash(pub crypto.PublicKey) (crypto.Hash, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, nil
		case elliptic.P384():
			return crypto.SHA384, nil
		case elliptic.P521():
			return crypto.SHA512, nil
		}
		return 0, fmt.Errorf("unsupported curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return crypto.SHA256, nil
	case ed25519.PublicKey:
		return 0, nil
	}
	return 0, fmt.Errorf("unsupported key type %T", pub)
}

// SignStatement makes a signature-format statement: signer (the
// manufacturer key, whose certificate chain is chain) signs m.
func SignStatement(signer crypto.Signer, chain [][]byte, m Message) (Statement, error) {
	h, err := signingHash(signer.Public())
	if err != nil {
		return Statement{}, fmt.Errorf("attestation key: %v", err)
	}
	msg := m.Bytes()
	digest := msg
	if h != 0 {
		d := h.New()
		d.Write(msg)
		digest = d.Sum(nil)
	}
	sig, err := signer.Sign(rand.Reader, digest, h)
	if err != nil {
		return Statement{}, fmt.Errorf("attestation key: sign: %w", err)
	}
	return Statement{Format: FormatSignature, Chain: chain, Statement: msg, Signature: sig}, nil
}

// verifySignature checks a signature-format signature over msg.
func verifySignature(pub crypto.PublicKey, msg, sig []byte) error {
	h, err := signingHash(pub)
	if err != nil {
		return err
	}
	if h == 0 {
		if !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
			return errors.New("the Ed25519 signature does not verify")
		}
		return nil
	}
	d := h.New()
	d.Write(msg)
	digest := d.Sum(nil)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("the ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, h, digest, sig); err != nil {
			return errors.New("the RSA signature does not verify")
		}
	}
	return nil
}

// verifyTPMSignature checks a TPMT_SIGNATURE (ECDSA, RSASSA or RSAPSS)
// over data by pub.
func verifyTPMSignature(pub crypto.PublicKey, data, tpmSig []byte) error {
	sig, err := tpm2.Unmarshal[tpm2.TPMTSignature](tpmSig)
	if err != nil {
		return fmt.Errorf("not a TPMT_SIGNATURE: %v", err)
	}
	digest := func(alg tpm2.TPMIAlgHash) (crypto.Hash, []byte, error) {
		h, err := alg.Hash()
		if err != nil || !h.Available() {
			return 0, nil, fmt.Errorf("unsupported hash %v", alg)
		}
		d := h.New()
		d.Write(data)
		return h, d.Sum(nil), nil
	}
	switch sig.SigAlg {
	case tpm2.TPMAlgECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("an ECDSA signature, but the manufacturer key is %T", pub)
		}
		ecc, err := sig.Signature.ECDSA()
		if err != nil {
			return err
		}
		_, d, err := digest(ecc.Hash)
		if err != nil {
			return err
		}
		r, s := new(big.Int).SetBytes(ecc.SignatureR.Buffer), new(big.Int).SetBytes(ecc.SignatureS.Buffer)
		if !ecdsa.Verify(k, d, r, s) {
			return errors.New("the ECDSA signature does not verify")
		}
		return nil
	case tpm2.TPMAlgRSASSA, tpm2.TPMAlgRSAPSS:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("an RSA signature, but the manufacturer key is %T", pub)
		}
		get := sig.Signature.RSASSA
		if sig.SigAlg == tpm2.TPMAlgRSAPSS {
			get = sig.Signature.RSAPSS
		}
		rs, err := get()
		if err != nil {
			return err
		}
		h, d, err := digest(rs.Hash)
		if err != nil {
			return err
		}
		if sig.SigAlg == tpm2.TPMAlgRSAPSS {
			err = rsa.VerifyPSS(k, h, d, rs.Sig.Buffer, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		} else {
			err = rsa.VerifyPKCS1v15(k, h, d, rs.Sig.Buffer)
		}
		if err != nil {
			return errors.New("the RSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unsupported signature scheme %v", sig.SigAlg)
}
