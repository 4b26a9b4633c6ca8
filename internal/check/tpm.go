package check

import (
	"fmt"

	"github.com/provisiond/provisiond/internal/config"
)

// TPM is the offline check's tpm line with key_store: tpm (the device
// opens, the parent exists or can be made, tpm.handle is usable); "" with
// another key store.
func TPM(cfg *config.Config) (string, error) {
	if cfg.KeyStore != config.KeyStoreTPM {
		return "", nil
	}
	if err := cfg.CheckTPM(); err != nil {
		return "", fmt.Errorf("tpm: %w", err)
	}
	parent, handle := cfg.TPM.Parent, cfg.TPM.Handle
	if parent == "" {
		parent = "the standard storage key"
	}
	if handle == "" {
		handle = "none"
	}
	return fmt.Sprintf("tpm: ok (device %s, parent %s, persistent handle %s)", cfg.TPM.Device, parent, handle), nil
}
