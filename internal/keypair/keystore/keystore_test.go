package keystore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/keystore/keystoretest"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/store"
)

func TestFiles(t *testing.T) {
	for _, keyType := range []string{"ec-p256", "rsa-2048"} {
		t.Run(keyType, func(t *testing.T) {
			keystoretest.Run(t, keystore.NewFiles(store.NewMemory(), nil), keyType, nil)
		})
	}
	t.Run("import", func(t *testing.T) { keystoretest.RunImport(t, keystore.NewFiles(store.NewMemory(), nil)) })
}

func TestMemory(t *testing.T) {
	keystoretest.Run(t, keystore.NewMemory(), "ec-p256", nil)
	keystoretest.RunImport(t, keystore.NewMemory())
}

// The TPM store's keys live in the TPM and their files: a new connection
// to the same TPM (a restart) loads them, and tpm.handle holds the kept one.
func TestTPM(t *testing.T) {
	sw := tpmtest.Start(t)
	files := store.NewMemory()
	// One connection at a time: a simulator serves one.
	var shared *tpmkey.Shared
	reopen := func() keystore.Store {
		if shared != nil {
			shared.Close()
		}
		shared = tpmkey.NewShared(tpmkey.Settings{Device: sw.Device, Handle: "0x81000010"})
		return keystore.NewTPM(files, shared)
	}
	t.Cleanup(func() { shared.Close() })
	keystoretest.Run(t, reopen(), "ec-p256", reopen)
}

// Every failure to read a key file makes the file store's key unusable,
// while the TPM store keeps a key the TPM cannot load now.
func TestTPMUnavailableKeepsTheKey(t *testing.T) {
	sw := tpmtest.Start(t)
	files := store.NewMemory()
	shared := tpmkey.NewShared(tpmkey.Settings{Device: sw.Device})
	defer shared.Close()
	s := keystore.NewTPM(files, shared)
	ref := s.Plan(store.IdentityDir(1))
	if _, err := s.Make(ref, "ec-p256", func(w func() error) error { return w() }); err != nil {
		t.Fatal(err)
	}
	shared.Close()
	sw.Stop()
	_, err := s.Load(ref)
	if err == nil || errors.Is(err, keystore.ErrUnusable) {
		t.Fatalf("Load with the TPM gone = %v, want the TPM's failure, not an unusable key", err)
	}
	if _, ok := keystore.Device(err); !ok {
		t.Fatalf("Load with the TPM gone = %v, want a device error", err)
	}
	if _, err := s.Public(ref); err != nil {
		t.Fatalf("Public needs no TPM: %v", err)
	}
}

// A key the service made is not born in the TPM: the TPM store refuses to
// keep one, saying what to use instead.
func TestTPMRefusesImport(t *testing.T) {
	s := keystore.NewTPM(store.NewMemory(), tpmkey.NewShared(tpmkey.Settings{}))
	err := s.Import(s.Plan(store.IdentityDir(1)), []byte("-----BEGIN PRIVATE KEY-----"), func(func() error) error {
		t.Fatal("a refused import recorded the key")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "certificate_method: csr") {
		t.Fatalf("Import = %v, want a refusal naming certificate_method", err)
	}
}
