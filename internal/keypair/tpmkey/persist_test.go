package tpmkey_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

const handle = "0x81000010"

// Every crash window around EvictControl ends in a usable persistent key
// on restart, never an error.
func TestPersistAdoptsOrReplacesAfterCrash(t *testing.T) {
	sw := tpmtest.Start(t)
	s := tpmkey.Settings{Device: sw.Device, Handle: handle}

	// Crash after EvictControl, before the state recorded it: the restarted
	// daemon loads the saved file and calls Persist again: adopted.
	tpm := open(t, s)
	key := createKey(t, tpm, "ec-p256")
	file := key.File()
	if h, err := tpm.Persist(key); err != nil || h != 0x81000010 {
		t.Fatalf("persist: %v, %v", h, err)
	}
	tpm.Close()
	sw.Restart()
	tpm = open(t, s)
	loaded, err := tpm.LoadKey(file, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpm.Persist(loaded); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	assertHeld(t, tpm, key)

	// Crash after EvictControl of a key whose file was never saved: the
	// restarted daemon makes a new key; Persist replaces the orphan.
	orphan := createKey(t, tpm, "ec-p256")
	if _, err := tpm.Persist(orphan); err != nil {
		t.Fatal(err)
	}
	fresh := createKey(t, tpm, "ec-p256")
	if _, err := tpm.Persist(fresh); err != nil {
		t.Fatalf("replace an orphan of ours: %v", err)
	}
	assertHeld(t, tpm, fresh)

	// Removing an older identity's files leaves the handle to the newer key.
	if err := tpm.Forget(file); err != nil {
		t.Fatal(err)
	}
	assertHeld(t, tpm, fresh)
	// Removing the current one evicts it.
	if err := tpm.Forget(fresh.File()); err != nil {
		t.Fatal(err)
	}
	if _, err := tpm.LoadHandle(0x81000010, "tpm.handle"); err == nil {
		t.Fatal("the handle still holds a key after Forget")
	}
}

// assertHeld checks that the persistent handle signs as want.
func assertHeld(t *testing.T, tpm *tpmkey.TPM, want *tpmkey.Key) {
	t.Helper()
	held, err := tpm.LoadHandle(0x81000010, "tpm.handle")
	if err != nil {
		t.Fatal(err)
	}
	if !held.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(want.Public()) {
		t.Fatal("the handle holds another key")
	}
	sum := sha256.Sum256([]byte("x"))
	if _, err := held.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}

// A key provisiond did not make at tpm.handle is a config error naming
// the setting, and stays where it is.
func TestPersistRefusesForeignKey(t *testing.T) {
	sw := tpmtest.Start(t)
	foreign := putForeignKey(t, sw.Device, 0x81000010)

	s := tpmkey.Settings{Device: sw.Device, Handle: handle}
	err := tpmkey.Check(s)
	assertConfigError(t, err, "tpm.handle", "did not make")

	tpm := open(t, s)
	key := createKey(t, tpm, "ec-p256")
	_, err = tpm.Persist(key)
	assertConfigError(t, err, "tpm.handle", "did not make")
	held, err := tpm.LoadHandle(0x81000010, "tpm.handle")
	if err != nil {
		t.Fatal(err)
	}
	if !held.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(foreign) {
		t.Fatal("the foreign key was replaced")
	}
}

func assertConfigError(t *testing.T, err error, setting, words string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %s", setting)
	}
	te := asTPMError(t, err)
	if te.Setting != setting || te.Kind != tpmkey.KindConfig || !strings.Contains(err.Error(), words) || !strings.HasPrefix(err.Error(), setting+": ") {
		t.Fatalf("error %q (setting %q, kind %v); want a config error naming %s saying %q", err, te.Setting, te.Kind, setting, words)
	}
}

// putForeignKey persists, at h, a signing key made the way a factory tool
// makes one (tpm2_create's default attributes), and returns its public key.
func putForeignKey(t *testing.T, device string, h tpm2.TPMHandle) crypto.PublicKey {
	t.Helper()
	return tpmtest.PersistForeignKey(t, device, h)
}

// A daemon keeps one TPM open for its life; a simulator restart under it
// costs the commands in flight (transient errors), not the key.
func TestKeySurvivesSimulatorRestartUnderAnOpenTPM(t *testing.T) {
	sw := tpmtest.Start(t)
	tpm := open(t, tpmkey.Settings{Device: sw.Device})
	key := createKey(t, tpm, "ec-p256")
	sw.Restart()
	sum := sha256.Sum256([]byte("x"))
	_, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil && !tpmkey.IsTransient(err) {
		t.Fatalf("first sign after the restart: %v; want success or a transient error", err)
	}
	if _, err := key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
		t.Fatalf("sign after the restart: %v", err)
	}
}
