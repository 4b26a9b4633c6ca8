// Package keystore keeps the private keys of the device's identities
// behind one interface, Store, so that the state machine makes, loads,
// keeps and forgets a key the same way wherever it lives: in a file
// (Files), in a TPM (TPM), in memory for tests (Memory), or in a PKCS #11
// token. New picks the store the config's key_store names.
//
// Crash safety is shared between the store and the state machine: what
// the state records of a key (store.KeyRef) is saved in the save that
// Make is given, and the store decides the order. A key kept in its own
// file (a PEM key, a TPM key's TSS2 file) is made and written alongside
// that save: a power cut that loses the file leaves a record Load calls
// unusable, and a new key is made. A key that outlives the process
// without a file (an object in a token) is recorded first and made after:
// on restart a complete key is adopted and a half-made one destroyed and
// made again.
package keystore

import (
	"crypto"
	"crypto/tls"
	"errors"

	"github.com/provisiond/provisiond/internal/store"
)

// Store keeps identities' private keys. Its methods are called from the
// state machine's goroutine, and Make's and Import's work may run beside
// the save it is given.
type Store interface {
	// Plan names the key of a new identity whose files are in dir (a
	// store.IdentityDir); it makes nothing.
	Plan(dir string) store.KeyRef
	// Make makes a key of keyType (see keypair.KeyTypes) as ref names.
	// record saves ref in the state; the store passes it the work to run
	// during that save, or runs it before making a key that must not
	// outlive an unrecorded name.
	Make(ref store.KeyRef, keyType string, record Record) (Key, error)
	// Import keeps a private key the service made (create-keys) as ref
	// names, in the save record makes.
	Import(ref store.KeyRef, keyPEM []byte, record Record) error
	// Load opens the key ref names. An error matching ErrUnusable says
	// the key itself is missing, damaged or of another store: a new one
	// may replace it. Any other error is the store failing now (a TPM or
	// token that is not there): the key is kept for later.
	Load(ref store.KeyRef) (Key, error)
	// Public is the public half of ref's key, without the device where
	// the store can (a TSS2 file holds it). Errors are as Load's.
	Public(ref store.KeyRef) (crypto.PublicKey, error)
	// Keep makes ref's key permanent where consumers look for it
	// (tpm.handle), before it is handed over and again at each start.
	// It is safe to repeat.
	Keep(ref store.KeyRef) error
	// Forget removes the key of the identity whose files are in dir,
	// whichever store made it: its file, and its copy at tpm.handle or
	// its objects in a token when they are this store's.
	Forget(dir string) error
	// Handoff fills credentials.json's private-key fields for ref's key.
	Handoff(ref store.KeyRef, c *store.Credentials)
}

// Record saves the key's record in the state, running alongside (when
// not nil) during the save. It reports the save's error, else the work's.
type Record func(alongside func() error) error

// Key is a loaded private key.
type Key interface {
	crypto.Signer
	// TLSCertificate pairs the key with its certificate chain (PEM, leaf
	// first) for a handshake the key signs.
	TLSCertificate(chainPEM []byte) (tls.Certificate, error)
	// SignError is the key's last failure to sign, or nil: a handshake
	// that failed because the device did not sign only quotes it.
	SignError() error
}

// ErrUnusable matches a Load or Public error that is the key's, not the
// store's: a new key may replace it.
var ErrUnusable = errors.New("unusable key")

type unusableError struct{ err error }

func (e *unusableError) Error() string        { return e.err.Error() }
func (e *unusableError) Unwrap() error        { return e.err }
func (e *unusableError) Is(target error) bool { return target == ErrUnusable }

// unusable marks err as the key's fault.
func unusable(err error) error {
	if err == nil {
		return nil
	}
	return &unusableError{err}
}

// DeviceError is implemented by the errors of the device a store keeps
// keys in (a TPM, a token): the device failing, not the service. It is
// waited out by its kind, and does not count as an attempt at the service.
type DeviceError interface {
	error
	// Transient reports whether the failure should pass soon (a busy
	// device), rather than need a person (missing, locked out, misconfigured).
	Transient() bool
}

// Device reports whether err is a key store device's failure, and if so
// whether it is transient.
func Device(err error) (transient, ok bool) {
	var d DeviceError
	if errors.As(err, &d) {
		return d.Transient(), true
	}
	return false, false
}
