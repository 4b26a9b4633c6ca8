package keypair

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
)

func TestKeyTypesTable(t *testing.T) {
	if want := []string{"ec-p256", "ec-p384", "rsa-2048", "rsa-3072"}; !slices.Equal(KeyTypes(), want) {
		t.Errorf("KeyTypes() = %v, want %v", KeyTypes(), want)
	}
	if !ValidKeyType("rsa-3072") || ValidKeyType("dsa-1024") || ValidKeyType("") {
		t.Error("ValidKeyType disagrees with the table")
	}
	if _, err := Generate("dsa-1024"); err == nil || err.Error() != `unknown key type "dsa-1024": want ec-p256, ec-p384, rsa-2048 or rsa-3072` {
		t.Errorf("Generate(dsa-1024) = %v", err)
	}
}

func TestGenerateEncodeAndCSR(t *testing.T) {
	for _, kt := range KeyTypes() {
		t.Run(kt, func(t *testing.T) {
			key, err := Generate(kt)
			if err != nil {
				t.Fatal(err)
			}
			switch k := key.(type) {
			case *ecdsa.PrivateKey:
				if want := map[string]int{"ec-p256": 256, "ec-p384": 384}[kt]; k.Curve.Params().BitSize != want {
					t.Errorf("curve %d bits", k.Curve.Params().BitSize)
				}
			case *rsa.PrivateKey:
				if want := map[string]int{"rsa-2048": 2048, "rsa-3072": 3072}[kt]; k.N.BitLen() != want {
					t.Errorf("RSA %d bits", k.N.BitLen())
				}
			default:
				t.Fatalf("key type %T", key)
			}
			pemKey, err := Encode(key)
			if err != nil {
				t.Fatal(err)
			}
			back, err := PrivateKey(pemKey)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Error("decoded key differs")
			}
			csrPEM, err := CSR(key, "gw-0001")
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(csrPEM)
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil || csr.Subject.CommonName != "gw-0001" {
				t.Errorf("CSR: %v, CN %q", err, csr.Subject.CommonName)
			}
		})
	}
	if _, err := Generate("dsa-1024"); err == nil {
		t.Error("unknown key type accepted")
	}
	if _, err := PrivateKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Error("garbage key accepted")
	}
}
