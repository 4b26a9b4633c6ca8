package p11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"unsafe"
)

// attr is one attribute of a template: its type and value bytes.
type attr struct {
	typ   ulong
	value []byte
}

func attrBool(typ ulong, v bool) attr {
	if v {
		return attr{typ, []byte{1}}
	}
	return attr{typ, []byte{0}}
}

// attrUlong encodes a CK_ULONG value in the machine's byte order.
func attrUlong(typ ulong, v ulong) attr {
	b := make([]byte, unsafe.Sizeof(v))
	if len(b) == 8 {
		binary.NativeEndian.PutUint64(b, uint64(v))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(v))
	}
	return attr{typ, b}
}

func attrBytes(typ ulong, v []byte) attr { return attr{typ, v} }

// cTemplate lays attrs out as CK_ATTRIBUTEs pointing at their values.
func cTemplate(attrs []attr) []ckAttribute {
	out := make([]ckAttribute, len(attrs))
	for i, a := range attrs {
		out[i].typ = a.typ
		out[i].len = ulong(len(a.value))
		if len(a.value) > 0 {
			out[i].value = unsafe.Pointer(&a.value[0])
		}
	}
	return out
}

// The named curves, by their DER-encoded OID (CKA_EC_PARAMS).
var curves = []struct {
	params []byte
	curve  elliptic.Curve
}{
	{[]byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, elliptic.P256()},
	{[]byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, elliptic.P384()},
	{[]byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}, elliptic.P521()},
}

func curveParams(c elliptic.Curve) []byte {
	for _, k := range curves {
		if k.curve == c {
			return k.params
		}
	}
	return nil
}

// decodeECPublic makes a public key of CKA_EC_PARAMS and CKA_EC_POINT.
// The point is an uncompressed point in a DER OCTET STRING, as PKCS#11
// 2.40 says; some modules give it bare, which is taken too.
func decodeECPublic(params, point []byte) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	for _, k := range curves {
		if string(k.params) == string(params) {
			curve = k.curve
		}
	}
	if curve == nil {
		return nil, errors.New("the key's curve (CKA_EC_PARAMS) is not P-256, P-384 or P-521")
	}
	raw := point
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		raw = inner
	}
	// The parser checks that the point is on the curve.
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
	if err != nil {
		return nil, fmt.Errorf("the key's point (CKA_EC_POINT) is not an uncompressed %s point", curve.Params().Name)
	}
	return pub, nil
}

// decodeRSAPublic makes a public key of CKA_MODULUS and
// CKA_PUBLIC_EXPONENT (big-endian).
func decodeRSAPublic(modulus, exponent []byte) (*rsa.PublicKey, error) {
	n := new(big.Int).SetBytes(modulus)
	if n.BitLen() < 1024 || n.Bit(0) == 0 {
		return nil, errors.New("the key's modulus (CKA_MODULUS) is not an RSA modulus of 1024 bits or more")
	}
	e := new(big.Int).SetBytes(exponent)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, errors.New("the key's public exponent (CKA_PUBLIC_EXPONENT) is not an odd number from 3 to 2^31-1")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// decodePublic makes the public key of a public key object's attributes,
// by CKA_KEY_TYPE (a CK_ULONG in the module's byte order).
func decodePublic(keyType []byte, values map[ulong][]byte) (crypto.PublicKey, error) {
	kt, err := decodeUlong(keyType)
	if err != nil {
		return nil, fmt.Errorf("the key's type (CKA_KEY_TYPE): %v", err)
	}
	switch kt {
	case ckkEC:
		return decodeECPublic(values[ckaECParams], values[ckaECPoint])
	case ckkRSA:
		return decodeRSAPublic(values[ckaModulus], values[ckaPublicExponent])
	}
	return nil, fmt.Errorf("the key's type (CKA_KEY_TYPE %d) is neither EC nor RSA", kt)
}

func decodeUlong(b []byte) (ulong, error) {
	var v ulong
	if len(b) != int(unsafe.Sizeof(v)) {
		return 0, fmt.Errorf("is %d bytes, a CK_ULONG is %d", len(b), unsafe.Sizeof(v))
	}
	if len(b) == 8 {
		return ulong(binary.NativeEndian.Uint64(b)), nil
	}
	return ulong(binary.NativeEndian.Uint32(b)), nil
}

// ecdsaDER turns a PKCS#11 ECDSA signature, r and s of equal length, into
// the ASN.1 form crypto.Signer returns.
func ecdsaDER(sig []byte, curve elliptic.Curve) ([]byte, error) {
	size := (curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return nil, fmt.Errorf("the token's ECDSA signature is %d bytes, %s makes %d", len(sig), curve.Params().Name, 2*size)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(sig[:size]),
		new(big.Int).SetBytes(sig[size:]),
	})
}
