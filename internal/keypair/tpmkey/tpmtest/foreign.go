package tpmtest

import (
	"crypto"
	"testing"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// PersistForeignKey puts at handle h an ECC P-256 signing key made as
// tpm2_create makes one at a factory (no provisiond mark, dictionary-attack
// protected), under the standard storage key, and returns its public key.
// It connects directly, so nothing else may hold the simulator meanwhile.
func PersistForeignKey(tb testing.TB, device string, h tpm2.TPMHandle) crypto.PublicKey {
	tb.Helper()
	t := dial(tb, device)
	defer t.Close()
	conn := t.Raw()
	srk, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(keyfile.ECCSRK_H2_Template),
	}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: srk.ObjectHandle}.Execute(conn) //nolint:errcheck // cleanup
	tmpl := tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, SignEncrypt: true, Decrypt: true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: tpm2.TPMECCNistP256,
			Scheme:  tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
		}),
	}
	srkAuth := tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)}
	created, err := tpm2.Create{ParentHandle: srkAuth, InPublic: tpm2.New2B(tmpl)}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	loaded, err := tpm2.Load{ParentHandle: srkAuth, InPrivate: created.OutPrivate, InPublic: created.OutPublic}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: loaded.ObjectHandle}.Execute(conn) //nolint:errcheck // cleanup
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     tpm2.NamedHandle{Handle: loaded.ObjectHandle, Name: loaded.Name},
		PersistentHandle: h,
	}).Execute(conn); err != nil {
		tb.Fatal(err)
	}
	pub, _ := created.OutPublic.Contents()
	key, err := tpm2.Pub(*pub)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// dial connects straight to the simulator, for setting the TPM up the way
// another program would.
func dial(tb testing.TB, device string) *tpmkey.TPM {
	tb.Helper()
	t, err := tpmkey.Open(tpmkey.Settings{Device: device})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// PersistSRK puts the standard ECC storage root key at handle h, as a
// factory does before setting tpm.parent to h.
func PersistSRK(tb testing.TB, device string, h tpm2.TPMHandle) {
	tb.Helper()
	t := dial(tb, device)
	defer t.Close()
	conn := t.Raw()
	srk, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(keyfile.ECCSRK_H2_Template),
	}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: srk.ObjectHandle}.Execute(conn) //nolint:errcheck // cleanup
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     tpm2.NamedHandle{Handle: srk.ObjectHandle, Name: srk.Name},
		PersistentHandle: h,
	}).Execute(conn); err != nil {
		tb.Fatal(err)
	}
}
