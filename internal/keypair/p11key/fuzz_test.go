package p11key

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"math/big"
	"testing"
)

// FuzzDecodePublic feeds the public key decoding what a module might
// return: it must never panic, and a key it accepts must be one (on its
// curve, or an odd modulus of 1024 bits or more).
func FuzzDecodePublic(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pt, _ := ec.PublicKey.ECDH()
	point, _ := asn1.Marshal(pt.Bytes())
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	f.Add(attrUlong(0, ckkEC).value, curves[0].params, point, []byte(nil))
	f.Add(attrUlong(0, ckkEC).value, curves[1].params, pt.Bytes(), []byte(nil))
	f.Add(attrUlong(0, ckkRSA).value, rsaKey.N.Bytes(), []byte{1, 0, 1}, []byte(nil))
	f.Add([]byte{1}, []byte{}, []byte{}, []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, keyType, a, b, sig []byte) {
		values := map[ulong][]byte{ckaECParams: a, ckaECPoint: b, ckaModulus: a, ckaPublicExponent: b}
		pub, err := decodePublic(keyType, values)
		if err == nil {
			switch k := pub.(type) {
			case *ecdsa.PublicKey:
				if _, err := k.ECDH(); err != nil {
					t.Fatal("accepted a point off the curve")
				}
			case *rsa.PublicKey:
				if k.N.BitLen() < 1024 || k.N.Bit(0) == 0 || k.E < 3 {
					t.Fatal("accepted a bad RSA key")
				}
			default:
				t.Fatalf("decoded a %T", pub)
			}
		}
		for _, c := range curves {
			der, err := ecdsaDER(sig, c.curve)
			if err != nil {
				continue
			}
			var rs struct{ R, S *big.Int }
			if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
				t.Fatalf("ecdsaDER made %x, which does not parse", der)
			}
		}
		_ = blankPadded(a)
		if _, err := ParseURI("pkcs11:" + string(a)); err == nil {
			_ = URI{}.String()
		}
	})
}
