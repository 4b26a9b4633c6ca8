package keystore

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/store"
)

// Memory keeps keys in memory, as a token keeps objects: a key has no
// file, it is recorded (a random id and the identity's label) before it
// is made, and it outlives the runners that share the Memory, as a token
// outlives restarts. Tests drive the state machine through it; Fail makes
// its device fail.
type Memory struct {
	mu   sync.Mutex
	keys map[string]memKey // by KeyID
	kept map[string]bool
	// Fail, when set, is called before each operation on the "device"
	// (make, load, keep, forget, and each signature: sign); an error it
	// returns is that operation's.
	Fail func(op string) error
}

type memKey struct {
	label string
	key   crypto.Signer
}

// NewMemory is an empty Memory.
func NewMemory() *Memory {
	return &Memory{keys: map[string]memKey{}, kept: map[string]bool{}}
}

// Plan names a new object: a random id, the identity's folder as label.
func (m *Memory) Plan(dir string) store.KeyRef {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return store.KeyRef{KeyID: hex.EncodeToString(id), KeyLabel: dir}
}

func (m *Memory) fail(op string) error {
	if m.Fail == nil {
		return nil
	}
	return m.Fail(op)
}

// Make records ref first, then makes the key: a crash in between leaves
// a record without a key, which Load calls unusable.
func (m *Memory) Make(ref store.KeyRef, keyType string, record Record) (Key, error) {
	if err := record(nil); err != nil {
		return nil, err
	}
	if err := m.fail("make"); err != nil {
		return nil, err
	}
	key, err := keypair.Generate(keyType)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[ref.KeyID] = memKey{label: ref.KeyLabel, key: key}
	return softKey{memSigner{key, m}}, nil
}

// Import keeps the service's key after recording it.
func (m *Memory) Import(ref store.KeyRef, keyPEM []byte, record Record) error {
	key, err := keypair.PrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("import the key: %w", err)
	}
	if err := record(nil); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[ref.KeyID] = memKey{label: ref.KeyLabel, key: key}
	return nil
}

// Load finds the key by its id.
func (m *Memory) Load(ref store.KeyRef) (Key, error) {
	if err := m.fail("load"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[ref.KeyID]
	if !ok || ref.KeyID == "" {
		return nil, unusable(fmt.Errorf("no key with id %q in memory", ref.KeyID))
	}
	return softKey{memSigner{k.key, m}}, nil
}

// memSigner signs as a token does: through the device, Fail("sign") first.
type memSigner struct {
	crypto.Signer
	m *Memory
}

func (k memSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := k.m.fail("sign"); err != nil {
		return nil, err
	}
	return k.Signer.Sign(r, digest, opts)
}

// Public is the loaded key's.
func (m *Memory) Public(ref store.KeyRef) (crypto.PublicKey, error) {
	k, err := m.Load(ref)
	if err != nil {
		return nil, err
	}
	return k.Public(), nil
}

// Keep marks the key kept.
func (m *Memory) Keep(ref store.KeyRef) error {
	if err := m.fail("keep"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[ref.KeyID]; !ok {
		return errors.New("keep: no such key")
	}
	m.kept[ref.KeyID] = true
	return nil
}

// Forget removes the identity's objects, found by label, and any key
// file an earlier store left in dir.
func (m *Memory) Forget(dir string) error {
	if err := m.fail("forget"); err != nil {
		return err
	}
	m.mu.Lock()
	for id, k := range m.keys {
		if k.label == dir {
			delete(m.keys, id)
			delete(m.kept, id)
		}
	}
	m.mu.Unlock()
	return nil
}

// Handoff names the key as a token's.
func (m *Memory) Handoff(ref store.KeyRef, c *store.Credentials) {
	c.PrivateKeyType = store.PrivateKeyPKCS11
	c.PrivateKeyURI = "pkcs11:token=memory;object=" + ref.KeyLabel + ";id=" + ref.KeyID
	c.PKCS11TokenLabel = "memory"
	c.PKCS11KeyLabel = ref.KeyLabel
}

// Count is how many keys Memory holds.
func (m *Memory) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

// Holds reports whether Memory holds a key of the identity in dir.
func (m *Memory) Holds(dir string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.label == dir {
			return true
		}
	}
	return false
}

// Kept reports whether ref's key was kept.
func (m *Memory) Kept(ref store.KeyRef) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kept[ref.KeyID]
}
