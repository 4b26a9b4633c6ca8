package tpmkey

import (
	"bytes"
	"errors"

	"github.com/google/go-tpm/tpm2"
)

// Persist keeps k at the tpm.handle persistent handle, for consumers that
// name the key by handle. It is safe to repeat, so a restart after a crash
// anywhere around it simply calls it again:
//   - the handle already holds k: nothing to do (adopted);
//   - it holds another key provisiond made (an earlier identity's, or one
//     whose key file was never saved): that key is evicted and k takes
//     its place;
//   - it holds a key provisiond did not make: a config error naming
//     tpm.handle, and nothing is touched.
//
// It returns the handle, or 0 when tpm.handle is not set.
func (t *TPM) Persist(k *Key) (tpm2.TPMHandle, error) {
	h, err := t.handleSetting()
	if err != nil || h == 0 {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	held, err := t.heldAt(h)
	if err != nil {
		return 0, err
	}
	switch {
	case held == nil:
	case samePublic(held, k.pub):
		return h, nil
	case isOurs(held):
		if err := t.evict(h); err != nil {
			return 0, err
		}
	default:
		return 0, foreignKey(h)
	}
	if k.file == nil {
		return 0, errors.New("tpm: only a key loaded from its file can be made persistent")
	}
	err = k.use(func(loaded tpm2.TPMHandle) error {
		_, err := tpm2.EvictControl{
			Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
			ObjectHandle:     tpm2.NamedHandle{Handle: loaded, Name: k.name},
			PersistentHandle: h,
		}.Execute(t.conn)
		return err
	})
	if err != nil {
		return 0, ownerError("make the key persistent at "+handleString(h), err)
	}
	return h, nil
}

// Forget evicts the key in keyFile from tpm.handle, if that is where it
// is, when its identity is removed. A key that was never persistent needs
// nothing: the TPM keeps no copy, and its file is the only way to use it.
// A handle holding another key (a newer identity's) is left alone.
func (t *TPM) Forget(keyFile []byte) error {
	h, err := t.handleSetting()
	if err != nil || h == 0 {
		return err
	}
	file, err := ParseFile(keyFile)
	if err != nil {
		return err
	}
	pub, err := file.Pubkey.Contents()
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	held, err := t.heldAt(h)
	if err != nil || held == nil || !samePublic(held, pub) {
		return err
	}
	return t.evict(h)
}

// checkHandle reports whether tpm.handle is free or holds a key of ours.
func (t *TPM) checkHandle() error {
	h, err := t.handleSetting()
	if err != nil || h == 0 {
		return err
	}
	held, err := t.heldAt(h)
	if err != nil {
		return err
	}
	if held != nil && !isOurs(held) {
		return foreignKey(h)
	}
	return nil
}

func (t *TPM) handleSetting() (tpm2.TPMHandle, error) {
	if t.settings.Handle == "" {
		return 0, nil
	}
	h, err := ParsePersistentHandle(t.settings.Handle)
	if err != nil {
		return 0, &Error{Setting: "tpm.handle", Kind: KindConfig, Msg: err.Error()}
	}
	return h, nil
}

// heldAt returns the public area of the key at h, or nil when h is free.
func (t *TPM) heldAt(h tpm2.TPMHandle) (*tpm2.TPMTPublic, error) {
	pub, _, err := t.readPublic(h)
	if err != nil {
		if isNoObject(err) {
			return nil, nil
		}
		return nil, tpmError("read the key at "+handleString(h), "tpm.handle", err)
	}
	return pub, nil
}

func (t *TPM) evict(h tpm2.TPMHandle) error {
	_, err := tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     tpm2.NamedHandle{Handle: h},
		PersistentHandle: h,
	}.Execute(t.conn)
	if err != nil {
		return ownerError("evict the old key at "+handleString(h), err)
	}
	return nil
}

func ownerError(op string, err error) error {
	if errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail) {
		return &Error{Setting: "tpm.handle", Kind: KindConfig, Err: err,
			Msg: op + ": the owner hierarchy has a password, so provisiond cannot make keys persistent; leave tpm.handle empty"}
	}
	if errors.Is(err, tpm2.TPMRCNVSpace) {
		return &Error{Setting: "tpm.handle", Kind: KindConfig, Err: err, Msg: op + ": the TPM has no room for another persistent key"}
	}
	return tpmError(op, "tpm.handle", err)
}

func foreignKey(h tpm2.TPMHandle) error {
	return &Error{Setting: "tpm.handle", Kind: KindConfig,
		Msg: handleString(h) + " holds a key provisiond did not make; choose a free handle, or, if that key is not needed, remove it with tpm2_evictcontrol -C o -c " + handleString(h)}
}

func isOurs(pub *tpm2.TPMTPublic) bool {
	return bytes.Equal(pub.AuthPolicy.Buffer, ownMarker) && pub.ObjectAttributes.FixedTPM && pub.ObjectAttributes.SignEncrypt
}

func samePublic(a, b *tpm2.TPMTPublic) bool {
	return bytes.Equal(tpm2.Marshal(*a), tpm2.Marshal(*b))
}
