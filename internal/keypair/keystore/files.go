package keystore

import (
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/store"
)

// KeyFileMode lets the service's group read a private key file, and
// nobody else: consumers of credentials.json join that group (the state
// directory itself is 0750, so others cannot even reach it).
const KeyFileMode = 0o640

// Generator makes a software key of a key type; keypair.Generate is the
// daemon's.
type Generator func(keyType string) (crypto.Signer, error)

// Files keeps keys as PKCS #8 PEM files in the state directory
// (key_store: file).
type Files struct {
	files    store.Files
	generate Generator
}

// NewFiles is the file store over files; generate nil is keypair.Generate.
func NewFiles(files store.Files, generate Generator) *Files {
	if generate == nil {
		generate = keypair.Generate
	}
	return &Files{files: files, generate: generate}
}

// Plan names dir's private.key.
func (f *Files) Plan(dir string) store.KeyRef {
	return store.KeyRef{KeyFile: dir + "/" + store.KeyFileName}
}

// Make generates the key and writes its file during the save that names it.
func (f *Files) Make(ref store.KeyRef, keyType string, record Record) (Key, error) {
	key, err := f.generate(keyType)
	if err != nil {
		return nil, err
	}
	pemKey, err := keypair.Encode(key)
	if err != nil {
		return nil, err
	}
	if err := record(f.writer(ref.KeyFile, pemKey)); err != nil {
		return nil, err
	}
	return softKey{key}, nil
}

// Import writes the service's key during the save that names it.
func (f *Files) Import(ref store.KeyRef, keyPEM []byte, record Record) error {
	return record(f.writer(ref.KeyFile, keyPEM))
}

func (f *Files) writer(name string, data []byte) func() error {
	return func() error {
		return f.files.Write(name, data, KeyFileMode)
	}
}

// Load parses the key file. Every failure is the key's: a file that
// cannot be read now is as good as lost.
func (f *Files) Load(ref store.KeyRef) (Key, error) {
	data, err := f.read(ref)
	if err != nil {
		return nil, unusable(err)
	}
	if tpmkey.IsFile(data) {
		return nil, unusable(errors.New("a TPM key file, and key_store is not tpm"))
	}
	key, err := keypair.PrivateKey(data)
	if err != nil {
		return nil, unusable(err)
	}
	return softKey{key}, nil
}

// Public reads the public half of a key file of either kind (a TSS2 file
// holds it), so that an identity made before a change of key_store stays
// checkable. A missing or unparsable file is unusable; another read error
// is not.
func (f *Files) Public(ref store.KeyRef) (crypto.PublicKey, error) {
	data, err := f.read(ref)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, unusable(err)
	}
	if err != nil {
		return nil, err
	}
	pub, err := tpmkey.AnyPublic(data)
	if err != nil {
		return nil, unusable(fmt.Errorf("%s: %w", f.files.Path(ref.KeyFile), err))
	}
	return pub, nil
}

func (f *Files) read(ref store.KeyRef) ([]byte, error) {
	if ref.KeyFile == "" {
		return nil, fs.ErrNotExist
	}
	return f.files.Read(ref.KeyFile)
}

// Keep has nothing to do: the file is the key.
func (f *Files) Keep(store.KeyRef) error { return nil }

// Forget removes every key file dir may hold.
func (f *Files) Forget(dir string) error {
	var errs []error
	for _, name := range store.KeyFileNames {
		if err := f.files.Remove(dir + "/" + name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Handoff names the key file, as a TSS2 key when it is one (an identity
// made before key_store changed from tpm).
func (f *Files) Handoff(ref store.KeyRef, c *store.Credentials) {
	c.PrivateKeyFile = f.files.Path(ref.KeyFile)
	if isTSS2Name(ref) {
		c.PrivateKeyType = store.PrivateKeyTSS2
	}
}

// isTSS2Name reports whether ref names a TPM key's TSS2 file.
func isTSS2Name(ref store.KeyRef) bool {
	return ref.KeyFile != "" && path.Base(ref.KeyFile) == store.TPMKeyFileName
}

// softKey is a software key as a Key.
type softKey struct{ crypto.Signer }

func (k softKey) TLSCertificate(chainPEM []byte) (tls.Certificate, error) {
	return keypair.TLSCertificate(chainPEM, k.Signer)
}

func (softKey) SignError() error { return nil }
