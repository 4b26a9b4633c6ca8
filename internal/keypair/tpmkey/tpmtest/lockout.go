package tpmtest

import (
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// LockOut drives the TPM into dictionary-attack lockout the way an
// attacker (or a misconfigured program) does: wrong passwords for a
// password-protected key until the TPM stops counting and locks.
func LockOut(tb testing.TB, device string) {
	tb.Helper()
	conn, srk, done := openWithSRK(tb, device)
	defer done()
	srkAuth := srk
	tmpl := tpm2.TPMTPublic{
		Type:             tpm2.TPMAlgKeyedHash,
		NameAlg:          tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, UserWithAuth: true},
		Parameters:       tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull}}),
	}
	created, err := tpm2.Create{
		ParentHandle: srkAuth,
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: []byte("right")},
			Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: []byte("sealed")}),
		}},
		InPublic: tpm2.New2B(tmpl),
	}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	loaded, err := tpm2.Load{ParentHandle: srkAuth, InPrivate: created.OutPrivate, InPublic: created.OutPublic}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: loaded.ObjectHandle}.Execute(conn) //nolint:errcheck // cleanup
	for range 64 {
		_, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: tpm2.PasswordAuth([]byte("wrong"))}}.Execute(conn)
		if errors.Is(err, tpm2.TPMRCLockout) {
			return
		}
	}
	tb.Fatal("the TPM never locked out")
}
