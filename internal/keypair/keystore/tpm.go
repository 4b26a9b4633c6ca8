package keystore

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/store"
)

// TPM keeps keys in the TPM (key_store: tpm): each key is made there,
// never leaves it, and is kept as its TSS2 PRIVATE KEY file in the state
// directory, which OpenSSL's tpm2 provider loads; with tpm.handle set the
// handed-over key is also kept at that persistent handle.
type TPM struct {
	files store.Files
	tpm   *tpmkey.Shared
}

// NewTPM is the TPM store: tpm is the daemon's one TPM, opened on first
// use, so that a TPM missing at start is a wait.
func NewTPM(files store.Files, tpm *tpmkey.Shared) *TPM {
	return &TPM{files: files, tpm: tpm}
}

// Plan names dir's private.tss2.pem.
func (t *TPM) Plan(dir string) store.KeyRef {
	return store.KeyRef{KeyFile: dir + "/" + store.TPMKeyFileName}
}

// Make makes the key in the TPM and writes its file during the save that
// names it: until then the key is as good as lost, and a power cut costs
// only that.
func (t *TPM) Make(ref store.KeyRef, keyType string, record Record) (Key, error) {
	tpm, err := t.tpm.TPM()
	if err != nil {
		return nil, fmt.Errorf("open the TPM: %w", err)
	}
	key, err := tpm.CreateKey(keyType)
	if err != nil {
		return nil, err
	}
	if err := record((&Files{files: t.files}).writer(ref.KeyFile, key.File())); err != nil {
		return nil, err
	}
	return key, nil
}

// Import refuses: a key the service made is not born in the TPM (the
// config refuses key_store: tpm with create-keys already).
func (t *TPM) Import(store.KeyRef, []byte, Record) error {
	return errors.New("key_store: tpm cannot keep a key the service made: use certificate_method: csr")
}

// Load loads the key file into the TPM. A file that is missing or no TSS2
// file, or a key the TPM refuses for the key's sake, is unusable; the TPM
// failing is not, and the key is kept.
func (t *TPM) Load(ref store.KeyRef) (Key, error) {
	data, err := t.read(ref)
	if err != nil {
		return nil, unusable(err)
	}
	if !tpmkey.IsFile(data) {
		return nil, unusable(errors.New("not a TPM key file, and key_store is tpm"))
	}
	tpm, err := t.tpm.TPM()
	if err != nil {
		return nil, err
	}
	key, err := tpm.LoadKey(data, "")
	if err != nil && !unavailable(err) {
		return nil, unusable(err)
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// unavailable reports whether err is the TPM failing rather than the key.
func unavailable(err error) bool {
	var te *tpmkey.Error
	return errors.As(err, &te) && te.Kind != tpmkey.KindConfig
}

// Public reads the public half from the file: no TPM needed.
func (t *TPM) Public(ref store.KeyRef) (crypto.PublicKey, error) {
	return (&Files{files: t.files}).Public(ref)
}

func (t *TPM) read(ref store.KeyRef) ([]byte, error) {
	return (&Files{files: t.files}).read(ref)
}

// Keep persists the key at tpm.handle, when set. Persist adopts a handle
// that holds the key already, so repeating it costs a read.
func (t *TPM) Keep(ref store.KeyRef) error {
	if t.tpm.Settings().Handle == "" || !t.isTPMFile(ref) {
		return nil
	}
	key, err := t.Load(ref)
	if err != nil {
		return fmt.Errorf("load the key: %w", err)
	}
	tpm, err := t.tpm.TPM()
	if err != nil {
		return err
	}
	if _, err := tpm.Persist(key.(*tpmkey.Key)); err != nil {
		return fmt.Errorf("make the key persistent: %w", err)
	}
	return nil
}

func (t *TPM) isTPMFile(ref store.KeyRef) bool { return isTSS2Name(ref) }

// Forget evicts the identity's key from tpm.handle, if it is there, and
// removes its file. An eviction that fails is reported after the files
// are gone: a key of ours left at the handle is replaced by the next Keep.
func (t *TPM) Forget(dir string) error {
	var evictErr error
	if t.tpm.Settings().Handle != "" {
		if data, err := t.files.Read(dir + "/" + store.TPMKeyFileName); err == nil {
			tpm, err := t.tpm.TPM()
			if err == nil {
				err = tpm.Forget(data)
			}
			if err != nil {
				evictErr = fmt.Errorf("evict the key from tpm.handle: %w", err)
			}
		}
	}
	return errors.Join((&Files{files: t.files}).Forget(dir), evictErr)
}

// Handoff names the key file as a TSS2 key, and the handle that holds it.
func (t *TPM) Handoff(ref store.KeyRef, c *store.Credentials) {
	(&Files{files: t.files}).Handoff(ref, c)
	if t.isTPMFile(ref) {
		c.PrivateKeyHandle = t.tpm.Settings().HandleName()
	}
}
