package keystore

import (
	"fmt"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/store"
)

// Options are what a key store is made from.
type Options struct {
	// Kind is the config's key_store.
	Kind string
	// Files is the state directory: key files and TSS2 files live there.
	Files store.Files
	// TPM is the daemon's one TPM, for key_store: tpm.
	TPM *tpmkey.Shared
	// PKCS11 is the config's pkcs11 section, for key_store: pkcs11.
	PKCS11 p11key.Settings
	// Generate makes software keys; nil is keypair.Generate.
	Generate Generator
}

// New makes the store key_store names.
func New(o Options) (Store, error) {
	switch o.Kind {
	case config.KeyStoreFile, "":
		return NewFiles(o.Files, o.Generate), nil
	case config.KeyStoreTPM:
		if o.TPM == nil {
			return nil, fmt.Errorf("key_store: tpm without a TPM")
		}
		return NewTPM(o.Files, o.TPM), nil
	case config.KeyStorePKCS11:
		return NewPKCS11(o.Files, o.PKCS11), nil
	}
	return nil, fmt.Errorf("key_store: unknown store %q", o.Kind)
}
