package statemachine

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"strings"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// tpmKeyFileName is the key file of an identity whose key is in the TPM:
// the TSS2 PRIVATE KEY PEM that OpenSSL's tpm2 provider loads.
const tpmKeyFileName = "private.tss2.pem"

// keyFileNames are the names an identity's key file may have: the key
// store may have changed since an older identity was made.
var keyFileNames = []string{keyFileName, tpmKeyFileName}

// PrivateKeyTypeTSS2 is credentials.json's privateKeyType for a key in the TPM.
const PrivateKeyTypeTSS2 = "tss2"

// newKeyFileName is the key file name of a new identity.
func (r *Runner) newKeyFileName() string {
	if r.tpm != nil {
		return tpmKeyFileName
	}
	return keyFileName
}

// newKey makes a CSR key, in the TPM with key_store: tpm, and the file
// that keeps it.
func (r *Runner) newKey() (crypto.Signer, []byte, error) {
	if r.tpm != nil {
		t, err := r.tpm.TPM()
		if err != nil {
			return nil, nil, localErr("open the TPM", err)
		}
		key, err := t.CreateKey(r.set.KeyType)
		if err != nil {
			return nil, nil, localErr("make the key in the TPM", err)
		}
		return key, key.File(), nil
	}
	key, err := r.keys(r.set.KeyType)
	if err != nil {
		return nil, nil, localErr("generate key", err)
	}
	pemKey, err := keypair.Encode(key)
	if err != nil {
		return nil, nil, localErr("encode key", err)
	}
	return key, pemKey, nil
}

// savedKey loads this identity's saved CSR key, which must be of the key
// store in use: a key of the other store is unusable (a new one is made).
func (r *Runner) savedKey(data []byte) (crypto.Signer, error) {
	switch {
	case r.tpm == nil && tpmkey.IsFile(data):
		return nil, errors.New("a TPM key file, and key_store is not tpm")
	case r.tpm == nil:
		return keypair.PrivateKey(data)
	case !tpmkey.IsFile(data):
		return nil, errors.New("not a TPM key file, and key_store is tpm")
	}
	t, err := r.tpm.TPM()
	if err != nil {
		return nil, err
	}
	return t.LoadKey(data, "")
}

// tpmUnavailable reports whether err is the TPM failing rather than the
// key: a key that cannot be loaded now is not replaced for that.
func tpmUnavailable(err error) bool {
	var te *tpmkey.Error
	return errors.As(err, &te) && te.Kind != tpmkey.KindConfig
}

// tpmKind is the wait a TPM failure gets: transient ones back off; a TPM
// that is missing, locked out or misconfigured waits the long way (it may
// appear, recover or be fixed). ok is false for other errors.
func tpmKind(err error) (kind fleet.Kind, ok bool) {
	var te *tpmkey.Error
	if !errors.As(err, &te) {
		return 0, false
	}
	if te.Transient() {
		return fleet.KindTransient, true
	}
	return fleet.KindPermanent, true
}

// tlsCertificate pairs the identity's certificate with its key for the
// proving connection; a TPM key signs the handshake in the chip.
func (r *Runner) tlsCertificate(certPEM, keyPEM []byte) (tls.Certificate, *tpmkey.Key, error) {
	return tpmkey.KeyPair(certPEM, keyPEM, func() (*tpmkey.TPM, error) {
		if r.tpm == nil {
			return nil, errors.New("the identity's key is in a TPM, and key_store is not tpm")
		}
		return r.tpm.TPM()
	})
}

// prove connects once with the new identity; it reads nothing the Run
// goroutine changes, so it may run alongside a save. A handshake that
// failed because the TPM did not sign fails as the TPM's.
func (r *Runner) prove(ctx context.Context, thingName string, certPEM, keyPEM []byte) error {
	cert, key, err := r.tlsCertificate(certPEM, keyPEM)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, r.set.Retry.ResponseTimeout)
	defer cancel()
	err = r.dialer.Prove(pctx, thingName, cert)
	if err != nil && key != nil {
		if signErr := key.SignError(); signErr != nil {
			return signErr // the handshake's error only quotes it
		}
	}
	return err
}

// persistKey keeps the identity's TPM key at tpm.handle, when set, before
// credentials.json names it. Persist is safe to repeat: a crash between it
// and the save adopts the handle on the next try.
func (r *Runner) persistKey() error {
	if r.tpm == nil || r.tpm.Settings().Handle == "" || !strings.HasSuffix(r.st.KeyFile, "/"+tpmKeyFileName) {
		return nil
	}
	data, err := r.files.Read(r.st.KeyFile)
	if err != nil {
		return localErr("read the key", err)
	}
	t, err := r.tpm.TPM()
	if err != nil {
		return localErr("open the TPM", err)
	}
	key, err := t.LoadKey(data, "")
	if err == nil {
		_, err = t.Persist(key)
	}
	if err != nil {
		return localErr("make the key persistent", err)
	}
	return nil
}

// keyType is credentials.json's privateKeyType and privateKeyHandle for
// a key file.
func (r *Runner) keyType(keyFile string) (typ, handle string) {
	if !strings.HasSuffix(keyFile, "/"+tpmKeyFileName) {
		return "", ""
	}
	if r.tpm != nil {
		handle = r.tpm.Settings().HandleName()
	}
	return PrivateKeyTypeTSS2, handle
}

// forgetKey evicts a removed identity's TPM key from tpm.handle, if it is
// there. A failure is logged: the key file goes anyway, and a key of ours
// left at the handle is replaced by the next Persist.
func (r *Runner) forgetKey(name string) {
	if r.tpm == nil || r.tpm.Settings().Handle == "" || !strings.HasSuffix(name, "/"+tpmKeyFileName) {
		return
	}
	data, err := r.files.Read(name)
	if err != nil {
		return
	}
	t, err := r.tpm.TPM()
	if err == nil {
		err = t.Forget(data)
	}
	if err != nil {
		r.log.Warn("cannot evict an old identity's key from the TPM", zap.String("file", r.files.Path(name)), zap.Error(err))
	}
}
