package keystore

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/store"
)

// PKCS11 keeps keys in a PKCS #11 token (key_store: pkcs11): each pair is
// made in the token under a random CKA_ID and a label naming its identity
// (pkcs11.label, then the identity's folder), recorded before it is made.
// A pair a crash cut short is unusable, and Forget destroys what is left
// of it by its label. The token is opened on first use, so that a token
// missing at start is a wait.
type PKCS11 struct {
	files    store.Files
	settings p11key.Settings

	mu    sync.Mutex
	token *p11key.Token
}

// NewPKCS11 is the PKCS #11 store for the config's pkcs11 section.
func NewPKCS11(files store.Files, settings p11key.Settings) *PKCS11 {
	return &PKCS11{files: files, settings: settings}
}

// open returns the token, opening it on first use. A failure is a
// *p11key.Error, a device error (a wrong PIN is not transient).
func (p *PKCS11) open() (*p11key.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != nil {
		return p.token, nil
	}
	t, err := p11key.OpenToken(p.settings)
	if err != nil {
		return nil, err
	}
	p.token = t
	return t, nil
}

// dropOnLoss lets go of the token when err says the module lost it (it
// was removed, or the device failed): the next use loads the module
// afresh, as a module such as softhsm2 finds a token again only when it
// is initialized. It returns err.
func (p *PKCS11) dropOnLoss(err error) error {
	var pe *p11key.Error
	if errors.As(err, &pe) && (pe.Kind == p11key.KindMissing || pe.Kind == p11key.KindTransient) {
		_ = p.Close()
	}
	return err
}

// Close lets go of the token.
func (p *PKCS11) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token == nil {
		return nil
	}
	err := p.token.Close()
	p.token = nil
	return err
}

// label is the CKA_LABEL of the objects of the identity in dir.
func (p *PKCS11) label(dir string) string { return p.settings.Label + ":" + dir }

// Plan names a new pair: a random id, the identity's label.
func (p *PKCS11) Plan(dir string) store.KeyRef {
	return store.KeyRef{KeyID: hex.EncodeToString(p11key.NewID()), KeyLabel: p.label(dir)}
}

func keyID(ref store.KeyRef) ([]byte, error) {
	id, err := hex.DecodeString(ref.KeyID)
	if err != nil || len(id) == 0 {
		return nil, unusable(fmt.Errorf("no PKCS#11 key id recorded (key_store is pkcs11)"))
	}
	return id, nil
}

// Make records ref, then makes the pair in the token: a crash in between
// leaves a record whose pair is missing or half made, which Load calls
// unusable.
func (p *PKCS11) Make(ref store.KeyRef, keyType string, record Record) (Key, error) {
	id, err := keyID(ref)
	if err != nil {
		return nil, err
	}
	t, err := p.open()
	if err != nil {
		return nil, err
	}
	if err := record(nil); err != nil {
		return nil, err
	}
	key, err := t.Generate(keyType, id, ref.KeyLabel)
	if err != nil {
		return nil, p.dropOnLoss(err)
	}
	return key, nil
}

// Import records ref, then puts the service's key into the token, which
// zeroes it; keyPEM is zeroed too. Without pkcs11.import it refuses.
func (p *PKCS11) Import(ref store.KeyRef, keyPEM []byte, record Record) error {
	defer clear(keyPEM)
	if !p.settings.Import {
		return errors.New("pkcs11.import: false: provisiond does not put a key the service made into the token; use certificate_method: csr")
	}
	id, err := keyID(ref)
	if err != nil {
		return err
	}
	key, err := keypair.PrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("import the key: %w", err)
	}
	t, err := p.open()
	if err != nil {
		return err
	}
	if err := record(nil); err != nil {
		return err
	}
	_, err = t.Import(key, id, ref.KeyLabel)
	return err
}

// Load finds the pair by its id. No pair, or half a pair, is unusable;
// the token failing is not, and the key is kept.
func (p *PKCS11) Load(ref store.KeyRef) (Key, error) {
	id, err := keyID(ref)
	if err != nil {
		return nil, err
	}
	t, err := p.open()
	if err != nil {
		return nil, err
	}
	key, err := t.Find(id)
	if errors.Is(err, p11key.ErrNoKey) || errors.Is(err, p11key.ErrHalfPair) {
		return nil, unusable(err)
	}
	if err != nil {
		return nil, p.dropOnLoss(err)
	}
	return key, nil
}

// Public is the public half, read from the token.
func (p *PKCS11) Public(ref store.KeyRef) (crypto.PublicKey, error) {
	key, err := p.Load(ref)
	if err != nil {
		return nil, err
	}
	return key.Public(), nil
}

// Keep does nothing: token objects are permanent.
func (p *PKCS11) Keep(store.KeyRef) error { return nil }

// Forget destroys the objects with the identity's label, then removes
// any key file an earlier store left in dir: in that order, so that a
// crash in between leaves the folder, and the next Forget finishes.
func (p *PKCS11) Forget(dir string) error {
	t, err := p.open()
	if err != nil {
		return err
	}
	objs, err := t.List()
	if err != nil {
		return p.dropOnLoss(err)
	}
	done := map[string]bool{}
	for _, o := range objs {
		if o.Label != p.label(dir) || done[string(o.ID)] || len(o.ID) == 0 {
			continue
		}
		done[string(o.ID)] = true
		if _, err := t.Destroy(o.ID); err != nil {
			return p.dropOnLoss(err)
		}
	}
	return NewFiles(p.files, nil).Forget(dir)
}

// Handoff names the key by URI and by parts, and where the PIN is.
func (p *PKCS11) Handoff(ref store.KeyRef, c *store.Credentials) {
	id, _ := hex.DecodeString(ref.KeyID)
	sel, _ := p11key.ParseURI(p.settings.Token)
	tokenLabel, serial := sel.Token, sel.Serial
	if t, err := p.open(); err == nil {
		info := t.Info()
		tokenLabel, serial = info.Label, info.Serial
	}
	c.PrivateKeyType = store.PrivateKeyPKCS11
	c.PrivateKeyFile = ""
	c.PrivateKeyURI = p11key.URI{Token: tokenLabel, Serial: serial, Object: ref.KeyLabel, ID: id, Type: "private"}.Handoff()
	c.PKCS11Module = p.settings.Module
	c.PKCS11TokenLabel = tokenLabel
	c.PKCS11KeyLabel = ref.KeyLabel
	if src, err := p11key.ParsePINSource(p.settings.PIN); err == nil && !src.None() {
		c.PKCS11PinFile = src.File
		if src.Credential != "" {
			c.PKCS11PinFile = p11key.PINCredentialPrefix + src.Credential
		}
	}
}
