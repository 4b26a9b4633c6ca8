package tpmkey_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

func TestMissingOrWrongDeviceNamesTheSetting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	ln.Close()
	notADevice := filepath.Join(t.TempDir(), "tpm0")
	os.WriteFile(notADevice, []byte("x"), 0o600)

	for _, tc := range []struct {
		device string
		kind   tpmkey.Kind
		words  string
	}{
		{"tcp://" + closedPort, tpmkey.KindMissing, "no TPM listening"},
		{filepath.Join(t.TempDir(), "tpmrm0"), tpmkey.KindMissing, "no TPM"},
		{notADevice, tpmkey.KindConfig, "not a TPM device"},
		{"http://127.0.0.1:1", tpmkey.KindConfig, "tcp://HOST:PORT"},
	} {
		t.Run(tc.device, func(t *testing.T) {
			err := tpmkey.Check(tpmkey.Settings{Device: tc.device})
			if err == nil {
				t.Fatal("no error")
			}
			te := asTPMError(t, err)
			if te.Setting != "tpm.device" || te.Kind != tc.kind || !strings.Contains(err.Error(), tc.words) || te.Transient() {
				t.Fatalf("%q: setting %q kind %v; want tpm.device, %v, %q", err, te.Setting, te.Kind, tc.kind, tc.words)
			}
		})
	}
}

func TestCheckNamesBadParentAndHandle(t *testing.T) {
	sw := tpmtest.Start(t)
	if err := tpmkey.Check(tpmkey.Settings{Device: sw.Device, Handle: "0x81000020"}); err != nil {
		t.Fatalf("a free handle under the standard parent: %v", err)
	}
	assertConfigError(t, tpmkey.Check(tpmkey.Settings{Device: sw.Device, Parent: "0x81000001"}), "tpm.parent", "no key at 0x81000001")
	assertConfigError(t, tpmkey.Check(tpmkey.Settings{Device: sw.Device, Handle: "0x01000001"}), "tpm.handle", "0x81")
	tpmtest.PersistForeignKey(t, sw.Device, 0x81000002)
	assertConfigError(t, tpmkey.Check(tpmkey.Settings{Device: sw.Device, Parent: "0x81000002"}), "tpm.parent", "not a storage key")
}

func TestUnsupportedKeyTypeNamesKeyType(t *testing.T) {
	sw := tpmtest.Start(t)
	_, err := open(t, tpmkey.Settings{Device: sw.Device}).CreateKey("rsa-3072")
	assertConfigError(t, err, "key_type", "rsa-3072")
}

// Lockout is a wait, said in plain words; provisiond's own keys are exempt
// from dictionary-attack protection and keep working meanwhile.
func TestLockoutIsAWaitAndSparesOurKeys(t *testing.T) {
	sw := tpmtest.Start(t)
	tpmtest.PersistForeignKey(t, sw.Device, 0x81000002) // a factory claim key, DA-protected
	tpmtest.LockOut(t, sw.Device)

	tpm := open(t, tpmkey.Settings{Device: sw.Device})
	sum := sha256.Sum256([]byte("x"))
	claim, err := tpm.LoadHandle(0x81000002, "claim.private_key")
	if err != nil {
		t.Fatal(err)
	}
	_, err = claim.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err == nil {
		t.Fatal("a dictionary-attack protected key signed during lockout")
	}
	te := asTPMError(t, err)
	if te.Kind != tpmkey.KindLockout || te.Transient() || !strings.Contains(err.Error(), "lockout") || !strings.Contains(err.Error(), "waits") {
		t.Fatalf("%q (kind %v); want a lockout error saying provisiond waits", err, te.Kind)
	}
	if !tpmkey.IsTransient(&tpmkey.Error{Kind: tpmkey.KindTransient}) || tpmkey.IsTransient(err) {
		t.Fatal("IsTransient disagrees with Kind")
	}

	key := createKey(t, tpm, "ec-p256")
	if _, err := key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
		t.Fatalf("our key during lockout: %v", err)
	}
}
