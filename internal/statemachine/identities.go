package statemachine

import (
	"encoding/json"
	"errors"
	"io/fs"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/store"
)

// handedOver is the one reader of credentials.json: what it names, and
// nothing when it is missing. An error means it exists but cannot be read
// or parsed: then nobody can tell which files it names, and none may be
// removed on its account.
func (r *Runner) handedOver() (store.Credentials, error) {
	var handed store.Credentials
	data, err := r.files.Read(store.CredentialsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return handed, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &handed)
	}
	return handed, err
}

// namesIdentity reports whether credentials.json names a file of identity n.
func (r *Runner) namesIdentity(handed store.Credentials, n int) bool {
	for _, name := range store.IdentityFileNames {
		p := r.files.Path(store.IdentityFile(n, name))
		if p == handed.CertificateFile || p == handed.PrivateKeyFile {
			return true
		}
	}
	return false
}

// removeIdentity deletes identity n's files and folder unless
// credentials.json names them, and reports whether they are gone.
func (r *Runner) removeIdentity(handed store.Credentials, n int) bool {
	if r.namesIdentity(handed, n) {
		return false
	}
	gone := r.forgetKey(n)
	name := store.IdentityFile(n, store.CertificateFileName)
	if err := r.files.Remove(name); err != nil {
		r.log.Warn("cannot remove an old identity file", zap.String("file", r.files.Path(name)), zap.Error(err))
		gone = false
	}
	// Fails harmlessly if something else is still in it.
	_ = r.files.Remove(store.IdentityDir(n))
	return gone
}

// identityNamedBy is the identity number whose files handed names, or 0.
func (r *Runner) identityNamedBy(handed store.Credentials) int {
	for n := r.st.Identity; n >= 1; n-- {
		if r.namesIdentity(handed, n) {
			return n
		}
	}
	return 0
}

// removeOldIdentities runs once handed, what credentials.json names, is
// the current identity. It keeps the identity the previous credentials.json
// named (Retired): a consumer that read that bundle a moment ago can still
// open its files until it re-reads credentials.json. A state saved by an
// older provisiond, which does not know it (no HandedOver), keeps the
// newest older identity with a certificate instead. Other identities are
// deleted, so at most one retired private key remains on the device, and
// an identity abandoned just before a crash (its files and key left
// behind) goes too.
func (r *Runner) removeOldIdentities(handed store.Credentials) {
	keep, guess := r.st.Retired, r.st.HandedOver == 0
	for n := r.st.Identity - 1; n >= 1; n-- {
		if guess && keep == 0 && r.exists(store.IdentityFile(n, store.CertificateFileName)) {
			keep = n
		}
		if n != keep {
			r.removeIdentity(handed, n)
		}
	}
	r.oldIdentitiesChecked = true
}
