package statemachine

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/store"
)

// The identity's private key is the key store's (Deps.KeyStore): the
// runner only records what the store names (store.KeyRef) and asks the
// store for the key, whatever keeps it.

// newKey makes this identity's CSR key in the key store, recording it in
// the save that precedes the call (see keystore.Store.Make): a key made
// and not recorded would be lost, or left behind in a token.
func (r *Runner) newKey() (crypto.Signer, error) {
	ref := r.keys.Plan(store.IdentityDir(r.st.Identity))
	key, err := r.keys.Make(ref, r.set.KeyType, r.recordKey(func(alongside []func() error) error {
		return r.checkpoint(PointKeySaved, func(s *store.State) {
			*s = r.beforeCall(*s)
			s.KeyRef = ref
		}, alongside...)
	}))
	var step *stepError
	if err != nil && !errors.As(err, &step) {
		return nil, localErr("make the key", err)
	}
	return key, err
}

// recordKey is the keystore.Record that save makes, with the store's work
// (writing the key's file) beside it as a step of its own.
func (r *Runner) recordKey(save func(alongside []func() error) error) keystore.Record {
	return func(work func() error) error {
		var alongside []func() error
		if work != nil {
			alongside = append(alongside, func() error {
				if err := work(); err != nil {
					return localErr("save private key", err)
				}
				return nil
			})
		}
		return save(alongside)
	}
}

// prove connects once with the new identity; it reads nothing the Run
// goroutine changes, so it may run alongside a save. A handshake that
// failed because the key store's device did not sign fails as the device's.
func (r *Runner) prove(ctx context.Context, thingName string, ref store.KeyRef, certPEM []byte) error {
	key, err := r.keys.Load(ref)
	if err != nil {
		return fmt.Errorf("load the key: %w", err)
	}
	cert, err := key.TLSCertificate(certPEM)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, r.set.Retry.ResponseTimeout)
	defer cancel()
	err = r.dialer.Prove(pctx, thingName, cert)
	if err != nil {
		if signErr := key.SignError(); signErr != nil {
			return signErr // the handshake's error only quotes it
		}
	}
	return err
}

// checkKey reports whether ref's key is the certificate's: an
// *unusableError when the key is missing, damaged, or not the pair.
func (r *Runner) checkKey(ref store.KeyRef, certPEM []byte) error {
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		return &unusableError{fmt.Errorf("%s: %w", r.files.Path(r.st.CertificateFile), err)}
	}
	pub, err := r.keys.Public(ref)
	if errors.Is(err, keystore.ErrUnusable) {
		return &unusableError{err}
	}
	if err != nil {
		return err
	}
	if err := keypair.MatchPublic(cert, pub); err != nil {
		return &unusableError{fmt.Errorf("%s and its key: %w", r.files.Path(r.st.CertificateFile), err)}
	}
	return nil
}

// keepKey makes the identity's key permanent where consumers look for it
// (tpm.handle), before credentials.json names it and once per start.
// Keep is safe to repeat: a crash between it and the save adopts the key
// on the next try.
func (r *Runner) keepKey() error {
	if err := r.keys.Keep(r.st.KeyRef); err != nil {
		return localErr("keep the key", err)
	}
	r.keyKept = true
	return nil
}

// forgetKey removes identity n's key from its store, and reports whether
// that worked. A failure is logged: the identity's other files go anyway,
// and a key of ours left at tpm.handle is replaced by the next Keep.
func (r *Runner) forgetKey(n int) bool {
	if err := r.keys.Forget(store.IdentityDir(n)); err != nil {
		r.log.Warn("cannot remove an old identity's key", zap.Int("identity", n), zap.Error(err))
		return false
	}
	return true
}
