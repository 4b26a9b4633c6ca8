package tpmkey

import (
	"errors"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"
)

// parent is a loaded storage key; release flushes it when it was made on
// demand, so that an idle daemon holds no TPM object slot.
type parent struct {
	auth    tpm2.AuthHandle
	file    tpm2.TPMHandle // what the key file records as its parent
	release func()
}

// loadParent loads the parent a key file names: TPM_RH_OWNER (0x40000001)
// means the standard ECC SRK, created from its template, the way OpenSSL's
// tpm2 provider recreates it; a persistent handle is used as it is.
func (t *TPM) loadParent(fileParent tpm2.TPMHandle) (*parent, error) {
	if fileParent == tpm2.TPMRHOwner || fileParent == 0 {
		return t.createSRK()
	}
	return t.persistentParent(fileParent)
}

// settingsParent is the parent for a new key, from tpm.parent.
func (t *TPM) settingsParent() (*parent, error) {
	if t.settings.Parent == "" {
		return t.createSRK()
	}
	h, err := ParsePersistentHandle(t.settings.Parent)
	if err != nil {
		return nil, &Error{Setting: "tpm.parent", Kind: KindConfig, Msg: err.Error()}
	}
	return t.persistentParent(h)
}

func (t *TPM) createSRK() (*parent, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(keyfile.ECCSRK_H2_Template),
	}.Execute(t.conn)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail) {
			return nil, &Error{Setting: "tpm.parent", Kind: KindConfig, Err: err,
				Msg: "the owner hierarchy has a password, so provisiond cannot make the standard storage key; " +
					"make one at a persistent handle (tpm2_createprimary -C o -G ecc256:aes128cfb -c srk.ctx; tpm2_evictcontrol -C o -c srk.ctx 0x81000001) and set tpm.parent to it"}
		}
		return nil, tpmError("create the storage root key", "tpm.parent", err)
	}
	h := rsp.ObjectHandle
	return &parent{
		auth:    tpm2.AuthHandle{Handle: h, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)},
		file:    tpm2.TPMRHOwner,
		release: func() { t.flush(h) },
	}, nil
}

func (t *TPM) persistentParent(h tpm2.TPMHandle) (*parent, error) {
	pub, name, err := t.readPublic(h)
	if err != nil {
		if isNoObject(err) {
			return nil, &Error{Setting: "tpm.parent", Kind: KindConfig, Err: err,
				Msg: "no key at " + handleString(h) + "; make the storage key there first, or leave tpm.parent empty for the standard one"}
		}
		return nil, tpmError("read the parent "+handleString(h), "tpm.parent", err)
	}
	if a := pub.ObjectAttributes; !a.Restricted || !a.Decrypt || a.SignEncrypt {
		return nil, &Error{Setting: "tpm.parent", Kind: KindConfig,
			Msg: handleString(h) + " is not a storage key (restricted, decrypt); keys cannot be made under it"}
	}
	return &parent{
		auth:    tpm2.AuthHandle{Handle: h, Name: name, Auth: tpm2.PasswordAuth(nil)},
		file:    h,
		release: func() {},
	}, nil
}

func (t *TPM) readPublic(h tpm2.TPMHandle) (*tpm2.TPMTPublic, tpm2.TPM2BName, error) {
	rsp, err := tpm2.ReadPublic{ObjectHandle: h}.Execute(t.conn)
	if err != nil {
		return nil, tpm2.TPM2BName{}, err
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return nil, tpm2.TPM2BName{}, err
	}
	return pub, rsp.Name, nil
}

// isNoObject reports whether err says a handle holds nothing.
func isNoObject(err error) bool {
	return errors.Is(err, tpm2.TPMRCHandle) || errors.Is(err, tpm2.TPMRCReferenceH0)
}
