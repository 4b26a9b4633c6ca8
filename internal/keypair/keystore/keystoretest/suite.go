// Package keystoretest is the suite every keystore.Store passes: a new
// store (a PKCS #11 token, an attestation key source) runs Run on a fresh
// instance to show it behaves as the state machine relies on.
package keystoretest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/store"
)

// Run checks s, a fresh store of keys of keyType. restart, when set,
// returns the same store as a new process would open it (the token, TPM
// or folder keeps its keys); nil reuses s.
func Run(t *testing.T, s keystore.Store, keyType string, restart func() keystore.Store) {
	if restart == nil {
		restart = func() keystore.Store { return s }
	}
	t.Run("made, recorded once, loaded again", func(t *testing.T) {
		ref := s.Plan(store.IdentityDir(1))
		if ref.IsZero() {
			t.Fatal("Plan named nothing")
		}
		records := 0
		key, err := s.Make(ref, keyType, func(alongside func() error) error {
			records++
			if alongside != nil {
				return alongside()
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Make: %v", err)
		}
		if records != 1 {
			t.Fatalf("Make recorded the key %d times, want once", records)
		}
		checkSigns(t, key)
		again, err := restart().Load(ref)
		if err != nil {
			t.Fatalf("Load after a restart: %v", err)
		}
		if !equal(again.Public(), key.Public()) {
			t.Fatal("Load gave another key than Make")
		}
		pub, err := restart().Public(ref)
		if err != nil || !equal(pub, key.Public()) {
			t.Fatalf("Public = %v, %v; want Make's key", pub, err)
		}
		ca := tpmtest.NewCA(t)
		cert, err := again.TLSCertificate(ca.Issue("thing", key.Public()))
		if err != nil {
			t.Fatalf("TLSCertificate: %v", err)
		}
		if cert.PrivateKey == nil || cert.Leaf == nil || len(cert.Certificate) != 1 {
			t.Fatalf("TLSCertificate gave %+v", cert)
		}
		var c store.Credentials
		s.Handoff(ref, &c)
		if c.PrivateKeyFile == "" && c.PrivateKeyURI == "" {
			t.Fatalf("Handoff named no key: %+v", c)
		}
		if err := s.Keep(ref); err != nil {
			t.Fatalf("Keep: %v", err)
		}
		if err := s.Keep(ref); err != nil {
			t.Fatalf("Keep again: %v", err)
		}
		if err := s.Forget(store.IdentityDir(1)); err != nil {
			t.Fatalf("Forget: %v", err)
		}
		if _, err := restart().Load(ref); !errors.Is(err, keystore.ErrUnusable) {
			t.Fatalf("Load of a forgotten key = %v, want ErrUnusable", err)
		}
	})
	t.Run("a failed record makes the key unusable", func(t *testing.T) {
		ref := s.Plan(store.IdentityDir(2))
		saveFailed := errors.New("disk full")
		if _, err := s.Make(ref, keyType, func(func() error) error { return saveFailed }); !errors.Is(err, saveFailed) {
			t.Fatalf("Make with a failed save = %v, want the save's error", err)
		}
		// The state never recorded ref; whatever the store left is
		// removed with the identity.
		if err := s.Forget(store.IdentityDir(2)); err != nil {
			t.Fatalf("Forget: %v", err)
		}
		if _, err := restart().Load(ref); !errors.Is(err, keystore.ErrUnusable) {
			t.Fatalf("Load = %v, want ErrUnusable", err)
		}
	})
	t.Run("nothing recorded is unusable", func(t *testing.T) {
		if _, err := s.Load(store.KeyRef{}); !errors.Is(err, keystore.ErrUnusable) {
			t.Fatalf("Load of no key = %v, want ErrUnusable", err)
		}
		if _, err := s.Public(s.Plan(store.IdentityDir(3))); !errors.Is(err, keystore.ErrUnusable) {
			t.Fatalf("Public of a key never made = %v, want ErrUnusable", err)
		}
	})
}

// checkSigns verifies a signature by key.
func checkSigns(t *testing.T, key keystore.Key) {
	t.Helper()
	digest := sha256.Sum256([]byte("provisiond"))
	sig, err := key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatal("the ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("the RSA signature does not verify: %v", err)
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}

func equal(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// RunImport checks a store that keeps keys the service made (create-keys):
// the key is recorded once and loads as the one given.
func RunImport(t *testing.T, s keystore.Store) {
	key, err := keypair.Generate("ec-p256")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keypair.Encode(key)
	if err != nil {
		t.Fatal(err)
	}
	ref := s.Plan(store.IdentityDir(4))
	records := 0
	err = s.Import(ref, keyPEM, func(alongside func() error) error {
		records++
		if alongside != nil {
			return alongside()
		}
		return nil
	})
	if err != nil || records != 1 {
		t.Fatalf("Import = %v after %d records, want once", err, records)
	}
	loaded, err := s.Load(ref)
	if err != nil {
		t.Fatalf("Load of the imported key: %v", err)
	}
	if !equal(loaded.Public(), key.Public()) {
		t.Fatal("Load gave another key than the one imported")
	}
}
