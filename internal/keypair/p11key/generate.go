package p11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"unsafe"
)

// keySpec is a key_type value a token key can have, with what the token
// needs to make and use one.
type keySpec struct {
	name    string
	keyType ulong
	gen     ulong // the key pair generation mechanism
	sign    ulong // the signature mechanism on a digest
	bits    ulong // the size the mechanism info's range must hold
	curve   elliptic.Curve
}

var keyTypes = []keySpec{
	{"ec-p256", ckkEC, ckmECKeyPairGen, ckmECDSA, 256, elliptic.P256()},
	{"ec-p384", ckkEC, ckmECKeyPairGen, ckmECDSA, 384, elliptic.P384()},
	{"rsa-2048", ckkRSA, ckmRSAKeyPairGen, ckmRSAPKCS, 2048, nil},
	{"rsa-3072", ckkRSA, ckmRSAKeyPairGen, ckmRSAPKCS, 3072, nil},
}

// KeyTypes lists the key types a token key can have, when the token's
// mechanisms allow (see Token.KeyTypes).
func KeyTypes() []string {
	out := make([]string, len(keyTypes))
	for i, k := range keyTypes {
		out[i] = k.name
	}
	return out
}

var mechanismNames = map[ulong]string{
	ckmRSAKeyPairGen: "CKM_RSA_PKCS_KEY_PAIR_GEN",
	ckmRSAPKCS:       "CKM_RSA_PKCS",
	ckmRSAPKCSPSS:    "CKM_RSA_PKCS_PSS",
	ckmECKeyPairGen:  "CKM_EC_KEY_PAIR_GEN",
	ckmECDSA:         "CKM_ECDSA",
}

// Mechanisms names the mechanisms the token has of those this package
// uses, for check's pkcs11 line.
func (t *Token) Mechanisms() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for m, name := range mechanismNames {
		if _, ok := t.mechs[m]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// KeyTypes lists the key types this token can make and sign with.
func (t *Token) KeyTypes() []string {
	var out []string
	for _, k := range keyTypes {
		if t.canMake(k.name) == nil {
			out = append(out, k.name)
		}
	}
	return out
}

// canMake reports why the token cannot make keyType, or nil.
func (t *Token) canMake(keyType string) error {
	i := slices.IndexFunc(keyTypes, func(k keySpec) bool { return k.name == keyType })
	if i < 0 {
		return &Error{Setting: SettingKeyType, Kind: KindConfig, Msg: fmt.Sprintf("must be %s with key_store: pkcs11, got %q", strings.Join(KeyTypes(), ", "), keyType)}
	}
	k := keyTypes[i]
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range []ulong{k.gen, k.sign} {
		info, ok := t.mechs[m]
		if !ok {
			return &Error{Setting: SettingKeyType, Kind: KindConfig, Msg: fmt.Sprintf("%s cannot make %s keys: its mechanism list has no %s", t.info, keyType, mechanismNames[m])}
		}
		// Key sizes are bits for RSA and EC alike in current modules; a
		// range of 0..0 means the module does not say.
		if info.maxKeySize != 0 && (k.bits < info.minKeySize || k.bits > info.maxKeySize) {
			return &Error{Setting: SettingKeyType, Kind: KindConfig, Msg: fmt.Sprintf("%s cannot make %s keys: its %s takes %d to %d bits", t.info, keyType, mechanismNames[m], info.minKeySize, info.maxKeySize)}
		}
	}
	return nil
}

// Generate makes a key pair of keyType in the token, with the id and
// label the caller chose (and saved, so that a restart finds the pair or
// its half). The private key is a token object, private, sensitive, never
// extractable, and signs only; an RSA key in a module that makes PKCS #1
// v1.5 signatures by raw decryption (decryptsToSign) may also decrypt.
func (t *Token) Generate(keyType string, id []byte, label string) (*Key, error) {
	if err := t.canMake(keyType); err != nil {
		return nil, err
	}
	if len(id) == 0 {
		return nil, &Error{Kind: KindFailed, Msg: "generate: no key id"}
	}
	k := keyTypes[slices.IndexFunc(keyTypes, func(k keySpec) bool { return k.name == keyType })]
	return t.generate(k, id, label, k.curve == nil && decryptsToSign[t.mod.manufacturer])
}

// decryptsToSign are the modules (by CK_INFO.manufacturerID) that make a
// CKM_RSA_PKCS signature with a raw RSA decryption in the device, which a
// sign-only key refuses: tpm2-pkcs11 does, as TPM2_Sign takes no DigestInfo
// (the TPM answers TPM_RC_ATTRIBUTES, the module CKR_GENERAL_ERROR).
var decryptsToSign = map[string]bool{"tpm2-software.github.io": true}

func (t *Token) generate(k keySpec, id []byte, label string, decrypt bool) (*Key, error) {
	common := []attr{attrUlong(ckaKeyType, k.keyType), attrBool(ckaToken, true), attrBytes(ckaID, id), attrBytes(ckaLabel, []byte(label))}
	// CKA_VERIFY is left to the module: tpm2-pkcs11 refuses a public
	// template that states it.
	pubT := append([]attr{attrUlong(ckaClass, ckoPublicKey), attrBool(ckaPrivate, false)}, common...)
	privT := append([]attr{attrUlong(ckaClass, ckoPrivateKey), attrBool(ckaPrivate, true), attrBool(ckaSensitive, true),
		attrBool(ckaExtractable, false), attrBool(ckaSign, true), attrBool(ckaDecrypt, decrypt), attrBool(ckaUnwrap, false), attrBool(ckaDerive, false)}, common...)
	if k.curve != nil {
		pubT = append(pubT, attrBytes(ckaECParams, curveParams(k.curve)))
	} else {
		pubT = append(pubT, attrUlong(ckaModulusBits, k.bits), attrBytes(ckaPublicExponent, []byte{1, 0, 1}))
	}
	var key *Key
	var keyErr error
	r, err := t.do(func(s ulong) rv {
		var p pins
		defer p.Unpin()
		mech := &ckMechanism{mech: k.gen}
		pt, pn := p.template(cTemplate(pubT))
		st, sn := p.template(cTemplate(privT))
		var pub, priv ulong
		r := t.mod.call(fnGenerateKeyPair, uintptr(s), p.ptr(unsafe.Pointer(mech)), pt, pn, st, sn,
			p.ptr(unsafe.Pointer(&pub)), p.ptr(unsafe.Pointer(&priv)))
		if r != ckrOK {
			return r
		}
		key, keyErr = t.keyOf(s, priv, pub)
		return ckrOK
	})
	if err == nil {
		err = rvError("make the "+k.name+" key pair in "+t.info.String(), r)
	}
	if err != nil {
		return nil, err
	}
	return key, keyErr
}

// Import puts a private key the service made (create-keys) into the token
// as a private, sensitive, never extractable signing key, with its public
// half, and zeroes the key's secret numbers in memory at once, whether the
// token takes it or not. Most hardware tokens refuse (tpm2-pkcs11 answers
// CKR_ATTRIBUTE_VALUE_INVALID): that is a permanent error naming the token.
func (t *Token) Import(signer crypto.Signer, id []byte, label string) (*Key, error) {
	var privT, pubT []attr
	var secrets [][]byte
	secret := func(typ ulong, x *big.Int) attr {
		b := x.Bytes()
		secrets = append(secrets, b)
		return attrBytes(typ, b)
	}
	common := []attr{attrBool(ckaToken, true), attrBytes(ckaID, id), attrBytes(ckaLabel, []byte(label))}
	switch key := signer.(type) {
	case *ecdsa.PrivateKey:
		params := curveParams(key.Curve)
		if params == nil {
			return nil, &Error{Setting: SettingImport, Kind: KindConfig, Msg: "the service's EC key is on a curve the token cannot name"}
		}
		ecdhPub, err := key.PublicKey.ECDH()
		if err != nil {
			return nil, &Error{Setting: SettingImport, Kind: KindFailed, Msg: "the service's EC public key is not valid"}
		}
		point, err := asn1.Marshal(ecdhPub.Bytes())
		if err != nil {
			return nil, &Error{Setting: SettingImport, Kind: KindFailed, Msg: "cannot encode the service's EC public key"}
		}
		d, err := key.Bytes()
		if err != nil {
			return nil, &Error{Setting: SettingImport, Kind: KindFailed, Msg: "the service's EC private key is not valid"}
		}
		secrets = append(secrets, d)
		privT = []attr{attrUlong(ckaKeyType, ckkEC), attrBytes(ckaECParams, params), attrBytes(ckaValue, d)}
		pubT = []attr{attrUlong(ckaKeyType, ckkEC), attrBytes(ckaECParams, params), attrBytes(ckaECPoint, point)}
		//lint:ignore SA1019 D is the key's own copy of its secret, and there is no other way to zero it
		defer zeroInt(key.D)
	case *rsa.PrivateKey:
		if len(key.Primes) != 2 {
			return nil, &Error{Setting: SettingImport, Kind: KindConfig, Msg: "the service's RSA key has more than two primes"}
		}
		key.Precompute()
		e := big.NewInt(int64(key.E)).Bytes()
		privT = []attr{attrUlong(ckaKeyType, ckkRSA), attrBytes(ckaModulus, key.N.Bytes()), attrBytes(ckaPublicExponent, e),
			secret(ckaPrivateExp, key.D), secret(ckaPrime1, key.Primes[0]), secret(ckaPrime2, key.Primes[1]),
			secret(ckaExponent1, key.Precomputed.Dp), secret(ckaExponent2, key.Precomputed.Dq), secret(ckaCoefficient, key.Precomputed.Qinv)}
		pubT = []attr{attrUlong(ckaKeyType, ckkRSA), attrBytes(ckaModulus, key.N.Bytes()), attrBytes(ckaPublicExponent, e)}
		defer func() {
			for _, x := range append([]*big.Int{key.D, key.Precomputed.Dp, key.Precomputed.Dq, key.Precomputed.Qinv}, key.Primes...) {
				zeroInt(x)
			}
		}()
	default:
		return nil, &Error{Setting: SettingImport, Kind: KindConfig, Msg: fmt.Sprintf("cannot import a %T key", signer)}
	}
	defer func() {
		for _, b := range secrets {
			clear(b)
		}
	}()
	privT = append(append([]attr{attrUlong(ckaClass, ckoPrivateKey), attrBool(ckaPrivate, true), attrBool(ckaSensitive, true),
		attrBool(ckaExtractable, false), attrBool(ckaSign, true), attrBool(ckaDecrypt, false), attrBool(ckaUnwrap, false), attrBool(ckaDerive, false)}, common...), privT...)
	pubT = append(append([]attr{attrUlong(ckaClass, ckoPublicKey), attrBool(ckaPrivate, false), attrBool(ckaVerify, true)}, common...), pubT...)
	var key *Key
	var keyErr error
	var refused rv
	r, err := t.do(func(s ulong) rv {
		var p pins
		defer p.Unpin()
		var priv, pub ulong
		st, sn := p.template(cTemplate(privT))
		if r := t.mod.call(fnCreateObject, uintptr(s), st, sn, p.ptr(unsafe.Pointer(&priv))); r != ckrOK {
			refused = r
			return r
		}
		pt, pn := p.template(cTemplate(pubT))
		if r := t.mod.call(fnCreateObject, uintptr(s), pt, pn, p.ptr(unsafe.Pointer(&pub))); r != ckrOK {
			t.mod.call(fnDestroyObject, uintptr(s), uintptr(priv))
			refused = r
			return r
		}
		key, keyErr = t.keyOf(s, priv, pub)
		return ckrOK
	})
	if err != nil {
		return nil, err
	}
	if refused != ckrOK && !sessionLost(refused) {
		if w, ok := rvWords[refused]; ok && w.kind == KindTransient {
			return nil, rvError("import the key into "+t.info.String(), refused)
		}
		return nil, &Error{Setting: SettingImport, Kind: KindConfig, Err: refused,
			Msg: t.info.String() + " refuses to import a private key (" + refused.Error() + "); use certificate_method: csr, which makes the key in the token"}
	}
	if err := rvError("import the key into "+t.info.String(), r); err != nil {
		return nil, err
	}
	return key, keyErr
}

// zeroInt overwrites x's digits.
func zeroInt(x *big.Int) {
	if x != nil {
		clear(x.Bits())
		x.SetInt64(0)
	}
}
