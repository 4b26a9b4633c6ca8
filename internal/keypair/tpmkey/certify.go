package tpmkey

import (
	"github.com/google/go-tpm/tpm2"
)

// LoadAttestationKey uses the attestation key (AK) at a persistent handle:
// a restricted signing key, made at the factory, whose certificate the
// manufacturer issued. setting names the config key for errors.
func (t *TPM) LoadAttestationKey(h tpm2.TPMHandle, setting string) (*Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pub, name, err := t.readPublic(h)
	if err != nil {
		if isNoObject(err) {
			return nil, &Error{Setting: setting, Kind: KindConfig, Err: err,
				Msg: "no attestation key at " + handleString(h) + "; the factory makes it there"}
		}
		return nil, tpmError("read the attestation key at "+handleString(h), setting, err)
	}
	if a := pub.ObjectAttributes; !a.SignEncrypt || !a.Restricted || a.Decrypt {
		return nil, &Error{Setting: setting, Kind: KindConfig,
			Msg: "the key at " + handleString(h) + " is not an attestation key (a restricted signing key)"}
	}
	return t.newKey(nil, h, name, pub, setting)
}

// Certify has the attestation key ak certify k (TPM2_Certify) with
// qualifyingData, and returns the signed TPMS_ATTEST, its TPMT_SIGNATURE
// and k's TPMT_PUBLIC, each as the TPM marshals it.
func (t *TPM) Certify(k, ak *Key, qualifyingData []byte) (attest, signature, public []byte, err error) {
	scheme := tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull}
	if akScheme(ak.pub) == tpm2.TPMAlgNull {
		// The key leaves the scheme to the caller.
		switch ak.pub.Type {
		case tpm2.TPMAlgECC:
			scheme = sigScheme(tpm2.TPMAlgECDSA, tpm2.TPMAlgSHA256)
		default:
			scheme = sigScheme(tpm2.TPMAlgRSASSA, tpm2.TPMAlgSHA256)
		}
	}
	var rsp *tpm2.CertifyResponse
	t.mu.Lock()
	err = k.use(func(object tpm2.TPMHandle) error {
		return ak.use(func(signer tpm2.TPMHandle) error {
			return retried(func() (err error) {
				rsp, err = tpm2.Certify{
					ObjectHandle:   tpm2.AuthHandle{Handle: object, Name: k.name, Auth: tpm2.PasswordAuth(nil)},
					SignHandle:     tpm2.AuthHandle{Handle: signer, Name: ak.name, Auth: tpm2.PasswordAuth(nil)},
					QualifyingData: tpm2.TPM2BData{Buffer: qualifyingData},
					InScheme:       scheme,
				}.Execute(t.conn)
				return err
			})
		})
	})
	t.mu.Unlock()
	if err != nil {
		return nil, nil, nil, tpmError("certify the device key with the attestation key", ak.setting, err)
	}
	return rsp.CertifyInfo.Bytes(), tpm2.Marshal(rsp.Signature), tpm2.Marshal(*k.pub), nil
}

// akScheme is the signing scheme fixed in a key's public area, or
// TPM_ALG_NULL when the caller chooses.
func akScheme(pub *tpm2.TPMTPublic) tpm2.TPMAlgID {
	switch pub.Type {
	case tpm2.TPMAlgECC:
		if p, err := pub.Parameters.ECCDetail(); err == nil {
			return p.Scheme.Scheme
		}
	case tpm2.TPMAlgRSA:
		if p, err := pub.Parameters.RSADetail(); err == nil {
			return p.Scheme.Scheme
		}
	}
	return tpm2.TPMAlgNull
}
