package tpmkey_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

func open(t *testing.T, s tpmkey.Settings) *tpmkey.TPM {
	t.Helper()
	tpm, err := tpmkey.Open(s)
	if err != nil {
		t.Fatalf("open %s: %v", s.Device, err)
	}
	t.Cleanup(func() { tpm.Close() })
	return tpm
}

func createKey(t *testing.T, tpm *tpmkey.TPM, keyType string) *tpmkey.Key {
	t.Helper()
	key, err := tpm.CreateKey(keyType)
	if err != nil {
		t.Fatalf("create %s: %v", keyType, err)
	}
	return key
}

func TestCreateKeySignsCSRForEachType(t *testing.T) {
	sw := tpmtest.Start(t)
	tpm := open(t, tpmkey.Settings{Device: sw.Device})
	for _, keyType := range tpmkey.KeyTypes {
		t.Run(keyType, func(t *testing.T) {
			key := createKey(t, tpm, keyType)
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}}, key)
			if err != nil {
				t.Fatalf("CSR: %v", err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Fatalf("CSR signature: %v", err)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
				t.Fatal("the CSR's public key is not the TPM key's")
			}
			switch pub := key.Public().(type) {
			case *ecdsa.PublicKey:
				want := map[string]int{"ec-p256": 256, "ec-p384": 384}[keyType]
				if pub.Curve.Params().BitSize != want {
					t.Fatalf("curve %d bits, want %d", pub.Curve.Params().BitSize, want)
				}
			case *rsa.PublicKey:
				if keyType != "rsa-2048" || pub.N.BitLen() != 2048 {
					t.Fatalf("RSA %d bits for %s", pub.N.BitLen(), keyType)
				}
			}
		})
	}
}

func TestRSASignerHonoursOptions(t *testing.T) {
	sw := tpmtest.Start(t)
	key := createKey(t, open(t, tpmkey.Settings{Device: sw.Device}), "rsa-2048")
	pub := key.Public().(*rsa.PublicKey)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := h.New()
		d.Write([]byte("message"))
		digest := d.Sum(nil)
		sig, err := key.Sign(rand.Reader, digest, h)
		if err != nil {
			t.Fatalf("PKCS1 %v: %v", h, err)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, digest, sig); err != nil {
			t.Fatalf("PKCS1 %v does not verify: %v", h, err)
		}
		pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
		sig, err = key.Sign(rand.Reader, digest, pss)
		if err != nil {
			t.Fatalf("PSS %v: %v", h, err)
		}
		if err := rsa.VerifyPSS(pub, h, digest, sig, pss); err != nil {
			t.Fatalf("PSS %v does not verify with salt = hash length (TLS 1.3): %v", h, err)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, digest, sig); err == nil {
			t.Fatalf("PSS options gave a PKCS1 v1.5 signature")
		}
	}
}

func TestSignRefusesBadDigests(t *testing.T) {
	sw := tpmtest.Start(t)
	key := createKey(t, open(t, tpmkey.Settings{Device: sw.Device}), "ec-p256")
	sum := sha256.Sum256([]byte("x"))
	if _, err := key.Sign(rand.Reader, sum[:], crypto.Hash(0)); err == nil {
		t.Fatal("signed without a hash function")
	}
	if _, err := key.Sign(rand.Reader, sum[:20], crypto.SHA256); err == nil {
		t.Fatal("signed a digest of the wrong length")
	}
	if _, err := key.Sign(rand.Reader, sum[:], &rsa.PSSOptions{Hash: crypto.SHA256}); err == nil {
		t.Fatal("signed with RSA-PSS options for an EC key")
	}
	if key.SignError() == nil {
		t.Fatal("SignError is nil after a failed Sign")
	}
	if _, err := key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := key.SignError(); err != nil {
		t.Fatalf("SignError after a good Sign: %v", err)
	}
}

// The key file holds the public area and the TPM-wrapped private blob:
// nothing that parses as a private key, and it loads back in the same TPM,
// also after a restart.
func TestKeyFileHoldsNoPrivateMaterialAndSurvivesRestart(t *testing.T) {
	sw := tpmtest.Start(t)
	tpm, err := tpmkey.Open(tpmkey.Settings{Device: sw.Device})
	if err != nil {
		t.Fatal(err)
	}
	key, err := tpm.CreateKey("ec-p256")
	if err != nil {
		t.Fatal(err)
	}
	file := key.File()
	block, rest := pem.Decode(file)
	if block == nil || block.Type != "TSS2 PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("key file is not one TSS2 PRIVATE KEY block:\n%s", file)
	}
	for _, parse := range []func([]byte) (any, error){
		x509.ParsePKCS8PrivateKey,
		func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) },
		func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) },
	} {
		if _, err := parse(block.Bytes); err == nil {
			t.Fatal("the key file parses as a plain private key")
		}
	}
	pub, err := tpmkey.FilePublic(file)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatal("the file's public key differs from the key's")
	}
	tpm.Close()

	sw.Restart()
	tpm = open(t, tpmkey.Settings{Device: sw.Device})
	loaded, err := tpm.LoadKey(file, "")
	if err != nil {
		t.Fatalf("load after restart: %v", err)
	}
	sum := sha256.Sum256([]byte("after restart"))
	sig, err := loaded.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), sum[:], sig) {
		t.Fatal("signature of the reloaded key does not verify")
	}

	// Another TPM cannot use the file.
	other := tpmtest.Start(t)
	if _, err := open(t, tpmkey.Settings{Device: other.Device}).LoadKey(file, "claim.private_key"); err == nil {
		t.Fatal("another TPM loaded the key")
	} else if te := asTPMError(t, err); te.Setting != "claim.private_key" {
		t.Fatalf("error names %q: %v", te.Setting, err)
	}
}

func asTPMError(t *testing.T, err error) *tpmkey.Error {
	t.Helper()
	te, ok := err.(*tpmkey.Error)
	if !ok {
		t.Fatalf("error %T is not a *tpmkey.Error: %v", err, err)
	}
	return te
}

// Handshakes sign at the same time (the claim session and a proving
// connection); each signature must come out whole.
func TestConcurrentSigning(t *testing.T) {
	sw := tpmtest.Start(t)
	tpm := open(t, tpmkey.Settings{Device: sw.Device})
	keys := []*tpmkey.Key{createKey(t, tpm, "ec-p256"), createKey(t, tpm, "ec-p384")}
	errs := make(chan error, 16)
	for i := range 16 {
		go func(key *tpmkey.Key) {
			sum := sha256.Sum256([]byte{byte(i)})
			sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
			if err == nil && !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), sum[:], sig) {
				err = errors.New("a signature does not verify")
			}
			errs <- err
		}(keys[i%2])
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
