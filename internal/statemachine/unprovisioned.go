package statemachine

import (
	"context"
	"crypto"
	"errors"
	"io/fs"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/store"
)

// Crash points, named after the step just persisted.
const (
	PointKeySaved          = "key-saved"          // CSR key written and recorded
	PointCertPending       = "cert-pending"       // certificate, key and token recorded
	PointOrphaned          = "orphaned"           // certificate given up, new identity number
	PointRegistrationSaved = "registration-saved" // RegisterThing answer recorded
	PointCredentials       = "credentials-written"
	PointRegistered        = "registered"
	PointRestored          = "credentials-restored"
	PointReprovisioned     = "reprovisioned"
	PointRetryScheduled    = "retry-scheduled" // a failure and its wait recorded
)

// obtainCertificate is the unprovisioned handler: it gets a certificate and
// its ownership token and moves to cert-pending. The claim connection opens
// while the CSR key and the attempt are saved.
func (r *Runner) obtainCertificate(ctx context.Context) error {
	if err := r.claimIdentityNumber(); err != nil {
		return err
	}
	dial := r.dialAhead(ctx)
	defer dial.Abort()
	op, key, csrPEM, err := r.prepareRequest()
	if err != nil {
		return err
	}
	sess, err := dial.Wait()
	if err != nil {
		return err
	}
	issuedAt := r.clock.Now()
	bootID, bootTime, bootErr := r.boot.Boot()
	callCtx, cancel := context.WithTimeout(ctx, r.set.Retry.ResponseTimeout)
	defer cancel()
	var issued *fleet.Issued
	if key != nil {
		issued, err = sess.CreateCertificateFromCSR(callCtx, csrPEM, key)
	} else {
		issued, err = sess.CreateKeysAndCertificate(callCtx)
	}
	if err != nil {
		return serviceErr(op, err)
	}
	if issued == nil || issued.OwnershipToken == "" || len(issued.CertificatePEM) == 0 {
		return serviceErr(op, errors.New("accepted answer without certificate or token"))
	}

	keyRef := r.st.KeyRef
	certFile := store.IdentityFile(r.st.Identity, store.CertificateFileName)
	if key == nil && len(issued.PrivateKeyPEM) == 0 {
		return serviceErr(op, errors.New("accepted answer without private key"))
	}
	if key == nil {
		keyRef = r.keys.Plan(store.IdentityDir(r.st.Identity))
	}
	if bootErr != nil {
		r.log.Warn("no boot clock: the token's age will be measured on the wall clock", zap.Error(bootErr))
		bootID, bootTime = "", 0
	}
	// The identity's files are written during the save that names them,
	// which also records the RegisterThing call that follows.
	save := func(keyWork []func() error) error {
		writes := append([]func() error{r.writeFile(certFile, issued.CertificatePEM, 0o644, "save certificate")}, keyWork...)
		return r.transition(store.CertPending, PointCertPending, func(s *store.State) {
			// Only a registration is progress: a certificate whose token
			// is then refused starts no new count (see abandonCertificate).
			*s = r.beforeCall(progressed(answered(*s)))
			s.KeyRef = keyRef
			s.CertificateFile = certFile
			s.CertificateID = issued.CertificateID
			s.OwnershipToken = issued.OwnershipToken
			s.TokenIssuedAt = issuedAt
			s.TokenBootID = bootID
			s.TokenBootTime = bootTime
		}, writes...)
	}
	if key != nil {
		return save(nil)
	}
	err = r.keys.Import(keyRef, issued.PrivateKeyPEM, r.recordKey(save))
	var step *stepError
	if err != nil && !errors.As(err, &step) {
		return localErr("keep the service's key", err)
	}
	return err
}

// prepareRequest readies the first call: with a CSR, this identity's key
// (saved before it is used) and the request; otherwise nothing but the
// attempt record. It names the operation.
func (r *Runner) prepareRequest() (op string, key crypto.Signer, csrPEM []byte, err error) {
	if r.set.Method != MethodCSR {
		r.beginCall()
		return string(fleet.OpCreateKeys), nil, nil, nil
	}
	if key, csrPEM, err = r.csr(); err != nil {
		return "", nil, nil, err
	}
	r.beginCall()
	return string(fleet.OpCreateFromCSR), key, csrPEM, nil
}

// writeFile is a store write for work alongside a save; it reads nothing
// the Run goroutine changes.
func (r *Runner) writeFile(name string, data []byte, perm fs.FileMode, op string) func() error {
	return func() error {
		if err := r.files.Write(name, data, perm); err != nil {
			return localErr(op, err)
		}
		return nil
	}
}

// claimIdentityNumber makes sure the current identity number names no
// files the state does not account for. Files an older credentials.json
// names must never be overwritten, so their number is skipped (a state file
// that was moved aside restarts the count). Files nothing names (a key
// saved just before a crash, before the state recorded it) are removed and
// their number reused, so that no unused private key is left forever.
func (r *Runner) claimIdentityNumber() error {
	if !r.st.KeyRef.IsZero() {
		return nil // this identity's key is ours already
	}
	n := r.st.Identity
	handed, err := r.handedOver()
	for r.identityExists(n) {
		if err == nil && r.removeIdentity(handed, n) {
			r.log.Info("removed identity files nothing names", zap.Int("identity", n))
			break
		}
		n++
	}
	if n == r.st.Identity {
		return nil
	}
	r.log.Info("skipping identity numbers already used on disk", zap.Int("from", r.st.Identity), zap.Int("to", n))
	return r.checkpoint("", func(s *store.State) { s.Identity = n })
}

// identityExists reports whether any file of identity n is in the store.
func (r *Runner) identityExists(n int) bool {
	for _, name := range store.IdentityFileNames {
		if r.exists(store.IdentityFile(n, name)) {
			return true
		}
	}
	return false
}

// exists reports whether name is in the store. One that cannot be read
// counts as there: no file is overwritten, or taken for gone, on a guess.
func (r *Runner) exists(name string) bool {
	_, err := r.files.Read(name)
	return !errors.Is(err, fs.ErrNotExist)
}

// csr returns this identity's CSR key (csrKey) and a CSR signed with it.
// A recorded key that an earlier run made and that the key store's device
// now refuses to sign with, for good, is replaced as an unusable one is:
// a kill inside the token's key generation can leave a pair that is found
// by its id but whose private half was never completed (softhsm2 writes an
// object's attributes one rewrite at a time), and no certificate this
// device kept was issued for it. A key this run made is never replaced
// here, so that a device that cannot sign does not churn keys.
func (r *Runner) csr() (crypto.Signer, []byte, error) {
	key, err := r.csrKey()
	if err != nil {
		return nil, nil, err
	}
	csrPEM, err := keypair.CSR(key, r.set.CommonName)
	if transient, device := keystore.Device(err); err != nil && device && !transient && r.st.KeyRef != r.madeKey {
		r.log.Warn("the saved CSR key does not sign: making a new one", append(r.fields(), zap.Error(err))...)
		_ = r.forgetKey(r.st.Identity)
		if key, err = r.madeCSRKey(); err != nil {
			return nil, nil, err
		}
		csrPEM, err = keypair.CSR(key, r.set.CommonName)
	}
	if err != nil {
		return nil, nil, localErr("create CSR", err)
	}
	return key, csrPEM, nil
}

// csrKey returns this identity's CSR key, making it in the key store the
// first time (see newKey), so that every retry sends a CSR for the same
// key. A recorded key the store calls unusable (lost in a power cut,
// damaged, of another key store, half made in a token) is replaced: no
// certificate this device kept was issued for it, so a new key costs
// nothing. A store that fails now keeps the key for later.
func (r *Runner) csrKey() (crypto.Signer, error) {
	if !r.st.KeyRef.IsZero() {
		key, err := r.keys.Load(r.st.KeyRef)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, keystore.ErrUnusable) {
			return nil, localErr("load the key", err)
		}
		r.log.Warn("the saved CSR key is unusable: making a new one", append(r.fields(), zap.Error(err))...)
		_ = r.forgetKey(r.st.Identity)
	}
	return r.madeCSRKey()
}

// madeCSRKey makes this identity's CSR key (newKey) and remembers that
// this run made it.
func (r *Runner) madeCSRKey() (crypto.Signer, error) {
	key, err := r.newKey()
	if err != nil {
		return nil, err
	}
	r.madeKey = r.st.KeyRef
	r.log.Info("made the private key", append(r.fields(), zap.String("keyType", r.set.KeyType))...)
	return key, nil
}

// open connects as with says (see sessionCredential).
func (r *Runner) open(ctx context.Context, with dialFunc) (Session, sessionInfo, error) {
	dctx, cancel := context.WithTimeout(ctx, r.set.Retry.ResponseTimeout)
	defer cancel()
	s, info, err := with(dctx)
	if err != nil {
		return nil, sessionInfo{}, err
	}
	if s == nil {
		return nil, sessionInfo{}, errors.New("dialer returned no session")
	}
	return s, info, nil
}

// closeSession drops the claim session; the next call connects again.
func (r *Runner) closeSession() {
	if r.session == nil {
		return
	}
	if err := r.session.Close(); err != nil {
		r.log.Debug("closing the claim session", zap.Error(err))
	}
	r.session, r.sessionTemplate, r.sessionClaim = nil, "", nil
}
