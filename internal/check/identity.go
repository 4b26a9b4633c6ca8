package check

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/store"
)

// CurrentIdentity is the identity credentials.json names in cfg's state
// directory, nil when there is none.
func CurrentIdentity(cfg *config.Config) *Identity {
	creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &Identity{Err: err}
	}
	return &Identity{ThingName: creds.ThingName, CertificateFile: creds.CertificateFile, PrivateKeyFile: creds.PrivateKeyFile}
}
