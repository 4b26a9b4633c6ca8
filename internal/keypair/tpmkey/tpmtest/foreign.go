package tpmtest

import (
	"crypto"
	"testing"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// PersistForeignKey puts at handle h an ECC P-256 signing key made as
// tpm2_create makes one at a factory (no provisiond mark, dictionary-attack
// protected), under the standard storage key, and returns its public key.
// It connects directly, so nothing else may hold the simulator meanwhile.
func PersistForeignKey(tb testing.TB, device string, h tpm2.TPMHandle) crypto.PublicKey {
	tb.Helper()
	conn, srk, done := openWithSRK(tb, device)
	defer done()
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
	srkAuth := srk
	created, err := tpm2.Create{ParentHandle: srkAuth, InPublic: tpm2.New2B(tmpl)}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	loaded, err := tpm2.Load{ParentHandle: srkAuth, InPrivate: created.OutPrivate, InPublic: created.OutPublic}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: loaded.ObjectHandle}.Execute(conn) //nolint:errcheck // cleanup
	persist(tb, conn, tpm2.NamedHandle{Handle: loaded.ObjectHandle, Name: loaded.Name}, h)
	pub, _ := created.OutPublic.Contents()
	key, err := tpm2.Pub(*pub)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// openWithSRK connects straight to the simulator, to set the TPM up the
// way another program would, and makes the standard storage key. done
// flushes the key and lets go of the simulator, which serves one client
// at a time.
func openWithSRK(tb testing.TB, device string) (conn transport.TPM, srk tpm2.AuthHandle, done func()) {
	tb.Helper()
	t, err := tpmkey.Open(tpmkey.Settings{Device: device})
	if err != nil {
		tb.Fatal(err)
	}
	conn = t.Raw()
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(keyfile.ECCSRK_H2_Template),
	}.Execute(conn)
	if err != nil {
		t.Close()
		tb.Fatal(err)
	}
	done = func() {
		tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(conn) //nolint:errcheck // cleanup
		t.Close()
	}
	return conn, tpm2.AuthHandle{Handle: rsp.ObjectHandle, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)}, done
}

// persist makes the loaded object persistent at h.
func persist(tb testing.TB, conn transport.TPM, obj tpm2.NamedHandle, h tpm2.TPMHandle) {
	tb.Helper()
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     obj,
		PersistentHandle: h,
	}).Execute(conn); err != nil {
		tb.Fatal(err)
	}
}

// PersistSRK puts the standard ECC storage root key at handle h, as a
// factory does before setting tpm.parent to h.
func PersistSRK(tb testing.TB, device string, h tpm2.TPMHandle) {
	tb.Helper()
	conn, srk, done := openWithSRK(tb, device)
	defer done()
	persist(tb, conn, tpm2.NamedHandle{Handle: srk.Handle, Name: srk.Name}, h)
}
