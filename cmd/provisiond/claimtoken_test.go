package main

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/check"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
	"github.com/provisiond/provisiond/internal/store"
)

// The factory's claim key lives only in a softhsm2 token (pkcs11-tool
// wrote it in and its file is gone): the device provisions against the
// emulator with it, with the device key in a file and with the device key
// in the same token, and no file anywhere holds the claim key.
func TestEndToEndProvisionsWithTheClaimKeyInAToken(t *testing.T) {
	for _, tc := range []struct{ name, keyStore string }{{"device key in a file", "file"}, {"device key in the token", "pkcs11"}} {
		t.Run(tc.name, func(t *testing.T) {
			m := p11test.SoftHSM(t)
			tok := m.InitToken("gateway")
			var claimDER []byte
			var emulatorDir string
			factory := func(dir string) {
				emulatorDir = dir
				keyFile := filepath.Join(dir, "claim.pem.key")
				keyPEM, err := os.ReadFile(keyFile)
				if err != nil {
					t.Fatal(err)
				}
				key, err := keypair.PrivateKey(keyPEM)
				if err != nil {
					t.Fatal(err)
				}
				block, _ := pem.Decode(keyPEM)
				claimDER = block.Bytes
				m.WriteKey(tok, key, "factory-claim", []byte{0xc1})
				if err := os.Remove(keyFile); err != nil {
					t.Fatal(err)
				}
			}
			yaml := "claim:\n  certificate: claim.pem.crt\n  private_key: \"pkcs11:token=gateway;object=factory-claim\"\n" +
				"key_store: " + tc.keyStore + "\npkcs11:\n  module: " + m.Path + "\n  token: \"pkcs11:token=gateway\"\n  pin: " + tok.PIN + "\n"
			path, srv := startPreparedEmulator(t, fleetsim.Options{}, yaml, factory)
			assertCheckSaysTheClaimKeyIsInTheToken(t, path)

			cfg := provision(t, path)
			creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
			if err != nil {
				t.Fatal(err)
			}
			if !activeIn(srv, creds) {
				t.Fatalf("certificate %s is not active for %s in the emulator", creds.CertificateID, creds.ThingName)
			}
			if tc.keyStore == "pkcs11" && creds.PrivateKeyType != "pkcs11" {
				t.Fatalf("credentials %+v: the device key is not the token's", creds)
			}
			if _, err := os.Stat(filepath.Join(emulatorDir, "claim.pem.key")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the claim key file is back: %v", err)
			}
			for _, dir := range []string{emulatorDir, cfg.StateDirectory} {
				if f := fileHolding(t, dir, claimDER); f != "" {
					t.Fatalf("%s holds the claim key", f)
				}
			}
		})
	}
}

// A claim key in a token without the pkcs11 section is a config error
// (exit 78) naming claim.private_key and pkcs11.module; with a PIN the
// token refuses, `check` fails naming pkcs11.pin, without the PIN.
func TestCheckNamesTheClaimKeyInATokensSettings(t *testing.T) {
	m := p11test.SoftHSM(t)
	m.InitToken("gateway")
	path, _ := startEmulator(t, fleetsim.Options{}, "claim:\n  certificate: claim.pem.crt\n  private_key: \"pkcs11:token=gateway;object=claim\"\n")
	var out, errOut bytes.Buffer
	if code := cmdCheck([]string{"--config", path}, &out, &errOut); code != exitConfig ||
		!strings.Contains(errOut.String(), "pkcs11.module") || !strings.Contains(errOut.String(), "claim.private_key is a key in a PKCS#11 token") {
		t.Fatalf("check without the pkcs11 section: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	wrong := filepath.Join(t.TempDir(), "wrong.pin")
	if err := os.WriteFile(wrong, []byte("not-the-pin-4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body = []byte(overrideYAML(string(body), "pkcs11:\n  module: "+m.Path+"\n  pin: file:"+wrong+"\n"))
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	code := cmdCheck([]string{"--config", path}, &out, &errOut)
	if code != exitConfig || !strings.Contains(errOut.String(), "pkcs11.pin: log in to token gateway") {
		t.Fatalf("check with a wrong PIN: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if all := out.String() + errOut.String(); strings.Contains(all, "not-the-pin-4321") || strings.Contains(all, p11test.UserPIN) {
		t.Fatalf("check shows the PIN:\n%s", all)
	}
}

// assertCheckSaysTheClaimKeyIsInTheToken runs check and check --online:
// both pass and say where the claim key is.
func assertCheckSaysTheClaimKeyIsInTheToken(t *testing.T, path string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cmdCheck([]string{"--config", path}, &out, &errOut); code != exitOK ||
		!strings.Contains(out.String(), "its key is in the PKCS#11 token (pkcs11:token=gateway;object=factory-claim") {
		t.Fatalf("check: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	results, code, text := checkOnline(t, path, time.Now)
	if code != exitOK {
		t.Fatalf("check --online: exit %d\n%s", code, text)
	}
	for _, r := range results {
		if r.Name == "claim" {
			if r.Status != check.OK || !strings.Contains(r.Message, "its key is in the PKCS#11 token") {
				t.Fatalf("check --online's claim: %+v", r)
			}
			return
		}
	}
	t.Fatalf("check --online has no claim result: %s", text)
}

// fileHolding is the first file under dir that holds secret (DER) as it is
// or as the start of a PEM body, or "".
func fileHolding(t *testing.T, dir string, secret []byte) string {
	t.Helper()
	found := ""
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() || found != "" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, secret) || bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(secret)[:64])) {
			found = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
