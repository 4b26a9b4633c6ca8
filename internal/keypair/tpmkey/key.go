package tpmkey

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/keypair"
)

// Key is a signing key inside the TPM; it is a crypto.Signer. Between uses
// it occupies no TPM object slot: a loaded key is kept as a saved context
// and loaded for each command, as a resource manager would (a TPM has only
// a few slots, and tcp:// has no resource manager). Nothing needs closing.
type Key struct {
	tpm  *TPM
	file *keyfile.TPMKey // nil for a key known only by its persistent handle
	// persistent is the handle of a key known only by it.
	persistent tpm2.TPMHandle
	// saved is the key's context while it is not loaded (t.mu guards it).
	saved  *tpm2.TPMSContext
	name   tpm2.TPM2BName
	pub    *tpm2.TPMTPublic
	public crypto.PublicKey
	// setting names the config key errors from this key blame.
	setting string
	lastErr atomic.Pointer[error]
}

// ownMarker is the authPolicy of every key provisiond makes. No policy
// session can reach this digest (that would need a SHA-256 preimage), so
// it grants nothing; it lets provisiond tell its own key at a persistent
// handle, left there by a crash, from a key someone else put there.
var ownMarker = func() []byte {
	sum := sha256.Sum256([]byte("provisiond device key: never satisfiable, only a mark"))
	return sum[:]
}()

// template is the public area of a new device key: fixed to this TPM and
// this parent (it can never be exported or duplicated), signing only, used
// with an empty password. noDA: an empty password cannot be guessed, so
// the key should keep working while other programs' wrong passwords hold
// the TPM in dictionary-attack lockout.
func template(keyType string) (tpm2.TPMTPublic, error) {
	t := tpm2.TPMTPublic{
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:            true,
			FixedParent:         true,
			SensitiveDataOrigin: true,
			UserWithAuth:        true,
			NoDA:                true,
			SignEncrypt:         true,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: ownMarker},
	}
	ecc := func(curve tpm2.TPMECCCurve) {
		t.Type = tpm2.TPMAlgECC
		t.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: curve,
			Scheme:  tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		})
		t.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{})
	}
	k, ok := keypair.LookupKeyType(keyType)
	switch {
	case !ok || !k.InTPM:
		return t, &Error{Setting: "key_type", Kind: KindConfig, Msg: fmt.Sprintf("a TPM key must be %s, got %q", orList(KeyTypes), keyType)}
	case k.Curve != nil:
		curve, ok := eccCurves[k.Curve.Params().Name]
		if !ok {
			return t, &Error{Setting: "key_type", Kind: KindConfig, Msg: "no TPM curve for " + keyType}
		}
		ecc(curve)
	default:
		t.Type = tpm2.TPMAlgRSA
		t.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Scheme:  tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
			KeyBits: tpm2.TPMKeyBits(k.Bits),
		})
		t.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{})
	}
	return t, nil
}

// eccCurves are the TPM's names of the curves key types use.
var eccCurves = map[string]tpm2.TPMECCCurve{
	"P-256": tpm2.TPMECCNistP256,
	"P-384": tpm2.TPMECCNistP384,
}

// CreateKey makes a new key of keyType (ec-p256, ec-p384, rsa-2048) under
// the tpm.parent storage key and loads it. Save Key.File() before relying
// on it: the TPM keeps nothing of a key that is not made persistent.
func (t *TPM) CreateKey(keyType string) (*Key, error) {
	tmpl, err := template(keyType)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.settingsParent()
	if err != nil {
		return nil, err
	}
	defer p.release()
	var rsp *tpm2.CreateResponse
	err = retried(func() (err error) {
		rsp, err = tpm2.Create{ParentHandle: p.auth, InPublic: tpm2.New2B(tmpl)}.Execute(t.conn)
		return err
	})
	if err != nil {
		if errors.Is(err, tpm2.TPMRCCurve) || errors.Is(err, tpm2.TPMRCKeySize) || errors.Is(err, tpm2.TPMRCAsymmetric) || errors.Is(err, tpm2.TPMRCValue) {
			return nil, &Error{Setting: "key_type", Kind: KindConfig, Err: err, Msg: "this TPM cannot make an " + keyType + " key; try ec-p256"}
		}
		return nil, tpmError("create the "+keyType+" key", "tpm.parent", err)
	}
	// No description field: tpm2-openssl 1.1 (Debian 12, 13) refuses
	// files that have one.
	file := keyfile.NewTPMKey(keyfile.OIDLoadableKey, rsp.OutPublic, rsp.OutPrivate,
		keyfile.WithParent(p.file))
	return t.loadFile(p, file, "")
}

// LoadKey loads a TSS2 PRIVATE KEY PEM file's key. setting names the config
// key that pointed at the file ("" for the device key), for errors.
func (t *TPM) LoadKey(pemData []byte, setting string) (*Key, error) {
	file, err := ParseFile(pemData)
	if err != nil {
		return nil, &Error{Setting: setting, Kind: KindConfig, Msg: err.Error()}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.loadParent(file.Parent)
	if err != nil {
		return nil, err
	}
	defer p.release()
	return t.loadFile(p, file, setting)
}

func (t *TPM) loadFile(p *parent, file *keyfile.TPMKey, setting string) (*Key, error) {
	pub, err := file.Pubkey.Contents()
	if err != nil {
		return nil, fmt.Errorf("tpm: key public area: %w", err)
	}
	k, err := t.newKey(file, 0, tpm2.TPM2BName{}, pub, setting)
	if err != nil {
		return nil, err
	}
	if err := k.loadUnder(p); err != nil {
		return nil, err
	}
	return k, nil
}

// loadUnder loads the key file under p and keeps the key as a saved
// context. The caller holds t.mu.
func (k *Key) loadUnder(p *parent) error {
	t := k.tpm
	rsp, err := tpm2.Load{ParentHandle: p.auth, InPrivate: k.file.Privkey, InPublic: k.file.Pubkey}.Execute(t.conn)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCIntegrity) || errors.Is(err, tpm2.TPMRCSize) || errors.Is(err, tpm2.TPMRCValue) {
			blame := k.setting
			if blame == "" {
				blame = "tpm.parent"
			}
			return &Error{Setting: blame, Kind: KindConfig, Err: err,
				Msg: "the TPM cannot load the key: it was made by another TPM or under another parent (" + err.Error() + ")"}
		}
		return tpmError("load the key", k.setting, err)
	}
	defer t.flush(rsp.ObjectHandle)
	saved, err := tpm2.ContextSave{SaveHandle: rsp.ObjectHandle}.Execute(t.conn)
	if err != nil {
		return tpmError("save the key's context", k.setting, err)
	}
	k.name = rsp.Name
	k.saved = &saved.Context
	return nil
}

// use runs fn with the key loaded at a handle. The caller holds t.mu. A
// saved context dies with a TPM reset; the key is then loaded again from
// its file.
func (k *Key) use(fn func(h tpm2.TPMHandle) error) error {
	if k.file == nil {
		return fn(k.persistent)
	}
	t := k.tpm
	rsp, err := tpm2.ContextLoad{Context: *k.saved}.Execute(t.conn)
	if err != nil {
		if isShortOfMemory(err) {
			return tpmError("load the key", k.setting, err)
		}
		p, perr := t.loadParent(k.file.Parent)
		if perr != nil {
			return perr
		}
		lerr := k.loadUnder(p)
		p.release()
		if lerr != nil {
			return lerr
		}
		if rsp, err = (tpm2.ContextLoad{Context: *k.saved}).Execute(t.conn); err != nil {
			return tpmError("load the key", k.setting, err)
		}
	}
	defer t.flush(rsp.LoadedHandle)
	return fn(rsp.LoadedHandle)
}

func isShortOfMemory(err error) bool {
	return errors.Is(err, tpm2.TPMRCObjectMemory) || errors.Is(err, tpm2.TPMRCMemory) || errors.Is(err, tpm2.TPMRCSessionMemory)
}

// LoadHandle uses the key at a persistent handle, such as a claim key put
// into the TPM at the factory. setting names the config key for errors.
func (t *TPM) LoadHandle(h tpm2.TPMHandle, setting string) (*Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pub, name, err := t.readPublic(h)
	if err != nil {
		if isNoObject(err) {
			return nil, &Error{Setting: setting, Kind: KindConfig, Err: err, Msg: "no key at " + handleString(h)}
		}
		return nil, tpmError("read the key at "+handleString(h), setting, err)
	}
	if !pub.ObjectAttributes.SignEncrypt || pub.ObjectAttributes.Restricted {
		return nil, &Error{Setting: setting, Kind: KindConfig, Msg: "the key at " + handleString(h) + " cannot sign"}
	}
	return t.newKey(nil, h, name, pub, setting)
}

func (t *TPM) newKey(file *keyfile.TPMKey, persistent tpm2.TPMHandle, name tpm2.TPM2BName, pub *tpm2.TPMTPublic, setting string) (*Key, error) {
	public, err := tpm2.Pub(*pub)
	if err != nil {
		return nil, &Error{Setting: setting, Kind: KindConfig, Msg: "unsupported key: " + err.Error()}
	}
	return &Key{tpm: t, file: file, persistent: persistent, name: name, pub: pub, public: public, setting: setting}, nil
}

// File is the key as TSS2 PRIVATE KEY PEM: the public area and the
// private part wrapped by the parent, which only this TPM can unwrap. It is
// nil for a key known only by its persistent handle.
func (k *Key) File() []byte {
	if k.file == nil {
		return nil
	}
	var b bytes.Buffer
	if err := keyfile.Encode(&b, k.file); err != nil {
		return nil
	}
	return b.Bytes()
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.public }

// ParseFile parses a TSS2 PRIVATE KEY PEM file and checks that provisiond
// can use it: a loadable key without a password or policy.
func ParseFile(pemData []byte) (*keyfile.TPMKey, error) {
	file, err := keyfile.Decode(pemData)
	if err != nil {
		return nil, errors.New("not a TSS2 PRIVATE KEY file")
	}
	switch {
	case !file.Keytype.Equal(keyfile.OIDLoadableKey):
		return nil, errors.New("the TSS2 key is not a loadable key (importable and sealed keys are not supported)")
	case !file.EmptyAuth:
		return nil, errors.New("the TSS2 key has a password; provisiond needs one without")
	case len(file.Policy) > 0 || len(file.AuthPolicy) > 0:
		return nil, errors.New("the TSS2 key has a policy; provisiond needs one without")
	}
	if _, err := file.Pubkey.Contents(); err != nil {
		return nil, errors.New("the TSS2 key's public area does not parse")
	}
	return file, nil
}

// IsFile reports whether data is a TSS2 PRIVATE KEY PEM file.
func IsFile(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN TSS2 PRIVATE KEY-----"))
}

// FilePublic returns the public key of a TSS2 key file without a TPM.
func FilePublic(pemData []byte) (crypto.PublicKey, error) {
	file, err := ParseFile(pemData)
	if err != nil {
		return nil, err
	}
	return file.PublicKey()
}

func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	s := items[0]
	for _, it := range items[1 : len(items)-1] {
		s += ", " + it
	}
	return s + " or " + items[len(items)-1]
}
