package p11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"unsafe"

	"github.com/provisiond/provisiond/internal/keypair"
)

// Key is a key pair in a token; it signs there as a crypto.Signer.
type Key struct {
	t      *Token
	id     []byte
	label  string
	public crypto.PublicKey
	// handle is the private key's object handle in session gen, guarded
	// by t.mu.
	handle ulong
	gen    uint64
	// find is the template that finds the private key again in a new
	// session; nil is its class and CKA_ID.
	find []attr

	lastErr atomic.Pointer[error]
}

// Public is the public half, read from the token.
func (k *Key) Public() crypto.PublicKey { return k.public }

// ID is the pair's CKA_ID.
func (k *Key) ID() []byte { return k.id }

// Label is the pair's CKA_LABEL.
func (k *Key) Label() string { return k.label }

// URI names the private key for the consumers of the identity (libp11,
// the AWS SDKs, p11-kit): token, serial, object and id, type=private.
func (k *Key) URI() string {
	info := k.t.Info()
	return URI{Token: info.Label, Serial: info.Serial, Object: k.label, ID: k.id, Type: "private"}.Handoff()
}

// digestInfo are the DER prefixes PKCS #1 v1.5 puts before a digest
// (RFC 8017, section 9.2, note 1).
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// pssHash are the PSS parameters for a hash: the hash and MGF1 with it.
var pssHash = map[crypto.Hash][2]ulong{
	crypto.SHA256: {ckmSHA256, ckgMGF1SHA256},
	crypto.SHA384: {ckmSHA384, ckgMGF1SHA384},
	crypto.SHA512: {ckmSHA512, ckgMGF1SHA512},
}

// Sign signs digest in the token. opts.HashFunc() names the hash that made
// digest (SHA-256, -384 or -512); for an RSA key, *rsa.PSSOptions selects
// RSA-PSS with a salt as long as the hash (TLS 1.3's) and anything else
// PKCS #1 v1.5. ECDSA signatures are ASN.1 DER, as crypto.Signer requires.
// rand is unused: the token draws its own randomness.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := k.sign(digest, opts)
	if err != nil {
		k.lastErr.Store(&err)
		return nil, err
	}
	k.lastErr.Store(nil)
	return sig, nil
}

// SignError returns the error of the last Sign call if it failed: a TLS
// handshake reports a signer's failure only as text.
func (k *Key) SignError() error {
	if p := k.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (k *Key) sign(digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if _, ok := digestInfo[h]; !ok {
		return nil, fmt.Errorf("pkcs11: cannot sign with hash %v: SHA-256, SHA-384 or SHA-512 digests only", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11: the digest is %d bytes, %v makes %d", len(digest), h, h.Size())
	}
	pss, isPSS := opts.(*rsa.PSSOptions)
	mech := &ckMechanism{}
	data := digest
	switch k.public.(type) {
	case *ecdsa.PublicKey:
		if isPSS {
			return nil, errors.New("pkcs11: RSA-PSS options for a key that is not RSA")
		}
		mech.mech = ckmECDSA
	case *rsa.PublicKey:
		if isPSS {
			if pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != rsa.PSSSaltLengthAuto && pss.SaltLength != h.Size() {
				return nil, fmt.Errorf("pkcs11: RSA-PSS with a salt of %d bytes: this key signs with a salt as long as the hash (%d)", pss.SaltLength, h.Size())
			}
			params := &ckPSSParams{hashAlg: pssHash[h][0], mgf: pssHash[h][1], saltLen: ulong(h.Size())}
			mech.mech, mech.param, mech.paramLen = ckmRSAPKCSPSS, unsafe.Pointer(params), ulong(unsafe.Sizeof(*params))
		} else {
			mech.mech = ckmRSAPKCS
			data = append(append([]byte{}, digestInfo[h]...), digest...)
		}
	}
	sig := make([]byte, 1024) // RSA-8192 and any curve
	var n ulong
	r, err := k.t.do(func(s ulong) rv {
		if k.gen != k.t.gen {
			if r := k.refind(s); r != ckrOK {
				return r
			}
		}
		var p pins
		defer p.Unpin()
		if mech.param != nil {
			p.Pin(mech.param)
		}
		if r := k.t.mod.call(fnSignInit, uintptr(s), p.ptr(unsafe.Pointer(mech)), uintptr(k.handle)); r != ckrOK {
			return r
		}
		n = ulong(len(sig))
		return k.t.mod.call(fnSign, uintptr(s), p.bytes(data), uintptr(len(data)), p.bytes(sig), p.ptr(unsafe.Pointer(&n)))
	})
	if err == nil {
		err = rvError("sign with the key "+k.label+" in "+k.t.Info().String(), r)
	}
	if err != nil {
		return nil, err
	}
	sig = sig[:min(n, ulong(len(sig)))]
	if pub, ok := k.public.(*ecdsa.PublicKey); ok {
		return ecdsaDER(sig, pub.Curve)
	}
	return sig, nil
}

// refind looks the private key's handle up again in a new session.
func (k *Key) refind(s ulong) rv {
	find := k.find
	if find == nil {
		find = []attr{attrUlong(ckaClass, ckoPrivateKey), attrBytes(ckaID, k.id)}
	}
	objs, r := k.t.findObjects(s, find)
	if r != ckrOK {
		return r
	}
	if len(objs) == 0 {
		return ckrKeyHandleInvalid
	}
	k.handle, k.gen = objs[0], k.t.gen
	return ckrOK
}

// SignatureSchemes are the TLS schemes this key signs, from the token's
// mechanisms: an RSA key without CKM_RSA_PKCS_PSS offers PKCS #1 v1.5
// only, which TLS 1.2 takes and TLS 1.3 does not (see MaxTLSVersion).
func (k *Key) SignatureSchemes() []tls.SignatureScheme {
	switch pub := k.public.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve.Params().BitSize == 384 {
			return []tls.SignatureScheme{tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP521AndSHA512}
		}
		return []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512}
	case *rsa.PublicKey:
		var out []tls.SignatureScheme
		if k.t.has(ckmRSAPKCSPSS) {
			out = append(out, tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512)
		}
		return append(out, tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512)
	}
	return nil
}

// MaxTLSVersion is the highest TLS version this key can sign for: 1.2
// for an RSA key in a token without RSA-PSS, 1.3 otherwise.
func (k *Key) MaxTLSVersion() uint16 {
	if _, isRSA := k.public.(*rsa.PublicKey); isRSA && !k.t.has(ckmRSAPKCSPSS) {
		return tls.VersionTLS12
	}
	return tls.VersionTLS13
}

// TLSCertificate pairs certificate chain PEM with the key for crypto/tls.
// It fails when the certificate is not for this key.
func (k *Key) TLSCertificate(chainPEM []byte) (tls.Certificate, error) {
	cert, err := keypair.TLSCertificate(chainPEM, k)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert.SupportedSignatureAlgorithms = k.SignatureSchemes()
	return cert, nil
}

func (t *Token) has(mech ulong) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.mechs[mech]
	return ok
}
