package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

// tpmYAML is the config for device keys in sw, at handle when set.
func tpmYAML(sw *tpmtest.SWTPM, keyType, handle string) string {
	y := "key_store: tpm\nkey_type: " + keyType + "\ntpm:\n  device: " + sw.Device + "\n"
	if handle != "" {
		y += "  handle: \"" + handle + "\"\n"
	}
	return y
}

// With key_store: tpm the device provisions against the emulator with a key
// made in the TPM: the certificate is for the TPM's key, no file of the
// state folder holds private key material, and the CSR and the proving
// connection were signed in the TPM.
func TestEndToEndProvisionsWithTheKeyInTheTPM(t *testing.T) {
	for _, tc := range []struct{ format, keyType string }{
		{"json", "ec-p256"}, {"cbor", "ec-p256"}, {"json", "rsa-2048"}, {"cbor", "rsa-2048"},
	} {
		t.Run(tc.format+"/"+tc.keyType, func(t *testing.T) {
			sw := tpmtest.Start(t)
			path, srv := startEmulator(t, fleetsim.Options{}, "payload_format: "+tc.format+"\n"+tpmYAML(sw, tc.keyType, ""))
			before := tpmkey.Signatures()
			cfg := provision(t, path)
			// One signature for the CSR, one for the proving handshake.
			if n := tpmkey.Signatures() - before; n < 2 {
				t.Errorf("the TPM made %d signatures; the CSR and the proving connection need 2", n)
			}
			creds := tpmCredentials(t, cfg)
			if creds.PrivateKeyHandle != "" {
				t.Errorf("privateKeyHandle %q without tpm.handle", creds.PrivateKeyHandle)
			}
			assertTPMKeyIsTheCertificates(t, sw, creds)
			assertNoPrivateKeyMaterial(t, cfg.StateDirectory)
			if !activeIn(srv, creds) {
				t.Fatalf("certificate %s is not active for %s in the emulator", creds.CertificateID, creds.ThingName)
			}
		})
	}
}

// The proving connection signs in the TPM: with the TPM stopped just before
// the proof, the handshake fails (a software key would pass), the failure
// is retried, and the device registers once the TPM is back.
func TestProofFailsWhileTheTPMIsStopped(t *testing.T) {
	sw := tpmtest.Start(t)
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry+tpmYAML(sw, "ec-p256", ""))
	cfg := provisionWithTheFirstProofWithout(t, path, "tpm.device", sw.Stop, sw.Restart)
	assertTPMKeyIsTheCertificates(t, sw, tpmCredentials(t, cfg))
}

// provisionWithTheFirstProofWithout provisions the device at path with the
// key's device taken away (away) during the first proof and given back
// (back) after it: that proof must fail naming word, and a later one
// succeed.
func provisionWithTheFirstProofWithout(t *testing.T, path, word string, away, back func()) *config.Config {
	t.Helper()
	var mu sync.Mutex
	var outcomes []error
	d := &testDaemon{logger: zaptest.NewLogger(t), wrapDialer: func(inner statemachine.Dialer) statemachine.Dialer {
		return &proveHook{Dialer: inner, prove: func(ctx context.Context, thing string, cert tls.Certificate) error {
			mu.Lock()
			first := len(outcomes) == 0
			mu.Unlock()
			if first {
				away()
			}
			err := inner.Prove(ctx, thing, cert)
			if first {
				back()
			}
			mu.Lock()
			outcomes = append(outcomes, err)
			mu.Unlock()
			return err
		}}
	}}
	cfg := provisionWith(t, path, d)
	mu.Lock()
	defer mu.Unlock()
	if len(outcomes) < 2 || outcomes[0] == nil || !strings.Contains(outcomes[0].Error(), word) || outcomes[len(outcomes)-1] != nil {
		t.Fatalf("proofs %v: want a failure with the key's device away, then a success", outcomes)
	}
	t.Logf("the proof with the key's device away: %v", outcomes[0])
	return cfg
}

// proveHook wraps a dialer's Prove.
type proveHook struct {
	statemachine.Dialer
	prove func(ctx context.Context, thing string, cert tls.Certificate) error
}

func (p *proveHook) Prove(ctx context.Context, thing string, cert tls.Certificate) error {
	return p.prove(ctx, thing, cert)
}

// tpmCredentials reads credentials.json and checks it names a TSS2 key.
func tpmCredentials(t *testing.T, cfg *config.Config) store.Credentials {
	t.Helper()
	creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if creds.PrivateKeyType != "tss2" || filepath.Base(creds.PrivateKeyFile) != "private.tss2.pem" {
		t.Fatalf("privateKeyType %q, privateKeyFile %s; want tss2, private.tss2.pem", creds.PrivateKeyType, creds.PrivateKeyFile)
	}
	info, err := os.Stat(creds.PrivateKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != keystore.KeyFileMode {
		t.Errorf("key file mode %v, want %v", info.Mode().Perm(), fs.FileMode(keystore.KeyFileMode))
	}
	return creds
}

// assertTPMKeyIsTheCertificates loads the handed-over key file into the
// TPM and checks the certificate is for that key.
func assertTPMKeyIsTheCertificates(t *testing.T, sw *tpmtest.SWTPM, creds store.Credentials) {
	t.Helper()
	certPEM, err := os.ReadFile(creds.CertificateFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(creds.PrivateKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	tpm, err := tpmkey.Open(tpmkey.Settings{Device: sw.Device})
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	key, err := tpm.LoadKey(keyPEM, "")
	if err != nil {
		t.Fatalf("the TPM does not load the handed-over key: %v", err)
	}
	if err := keypair.MatchPublic(cert, key.Public()); err != nil {
		t.Fatalf("the certificate is not for the TPM's key: %v", err)
	}
}

// assertNoPrivateKeyMaterial checks every file of dir: the only private
// key PEM is a TSS2 one, which no software key parser takes.
func assertNoPrivateKeyMaterial(t *testing.T, dir string) {
	t.Helper()
	if tss2KeyBlocks(t, dir) == 0 {
		t.Fatal("no TSS2 key file in the state folder")
	}
}

// tss2KeyBlocks fails the test on any software private key in dir's
// files, and counts the TSS2 PRIVATE KEY blocks.
func tss2KeyBlocks(t *testing.T, dir string) int {
	t.Helper()
	tss2 := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for rest := data; ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			switch {
			case block.Type == "TSS2 PRIVATE KEY":
				tss2++
				if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
					t.Errorf("%s: the TSS2 block parses as a software key", p)
				}
			case strings.Contains(block.Type, "PRIVATE KEY"):
				t.Errorf("%s holds a %s", p, block.Type)
			}
		}
		if _, err := keypair.PrivateKey(data); err == nil {
			t.Errorf("%s parses as a software private key", p)
		}
		if bytes.Contains(data, []byte("PRIVATE KEY-----")) && !tpmkey.IsFile(data) {
			t.Errorf("%s holds private key text", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tss2
}

// activeIn reports whether the emulator has creds' certificate active
// for its thing.
func activeIn(srv *fleetsim.Server, creds store.Credentials) bool {
	for _, c := range srv.Snapshot().Certificates {
		if c.CertificateID == creds.CertificateID {
			return c.Status == "ACTIVE" && c.ThingName == creds.ThingName
		}
	}
	return false
}

// A crash after the key was made persistent and before the handoff was
// saved leaves the key at tpm.handle: the restart adopts it and hands the
// identity over, never an error.
func TestRestartAdoptsTheKeyAlreadyAtTheHandle(t *testing.T) {
	sw := tpmtest.Start(t)
	const handle = "0x81000040"
	path, _ := startEmulator(t, fleetsim.Options{}, tpmYAML(sw, "ec-p256", handle))
	cfg := provision(t, path)
	first := tpmCredentials(t, cfg)
	// The state as a crash just after EvictControl leaves it: registered
	// with the service, proved, the key at the handle, nothing handed over.
	files, err := store.OpenDir(cfg.StateDirectory)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.LoadState(files)
	if err != nil {
		t.Fatal(err)
	}
	st.Phase = store.CertPending
	if err := store.SaveState(files, st); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.StateDirectory, store.CredentialsFile)); err != nil {
		t.Fatal(err)
	}
	files.Close()

	provision(t, path)
	again := tpmCredentials(t, cfg)
	if again.CertificateID != first.CertificateID || again.PrivateKeyHandle != handle {
		t.Fatalf("after the restart: certificate %s at %q, want %s at %s",
			again.CertificateID, again.PrivateKeyHandle, first.CertificateID, handle)
	}
	assertKeyAtHandle(t, sw, handle, again)
}

// `check --online` proves a TPM identity with a CONNECT signed in the TPM.
func TestOnlineCheckProvesTheTPMIdentity(t *testing.T) {
	sw := tpmtest.Start(t)
	path, _ := startEmulator(t, fleetsim.Options{}, tpmYAML(sw, "ec-p256", ""))
	provision(t, path)
	before := tpmkey.Signatures()
	var stdout, stderr bytes.Buffer
	code := runCLI([]string{"check", "--online", "--config", path}, &stdout, &stderr)
	if code != exitOK || !strings.Contains(stdout.String(), "a proving CONNECT was accepted") {
		t.Fatalf("exit %d, want 0 and an accepted proving CONNECT\n%s%s", code, stdout.String(), stderr.String())
	}
	if tpmkey.Signatures() == before {
		t.Fatal("the proving CONNECT did not sign in the TPM")
	}
}

// assertKeyAtHandle checks that the TPM holds creds' key at handle.
func assertKeyAtHandle(t *testing.T, sw *tpmtest.SWTPM, handle string, creds store.Credentials) {
	t.Helper()
	tpm, err := tpmkey.Open(tpmkey.Settings{Device: sw.Device})
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	h, err := tpmkey.ParsePersistentHandle(handle)
	if err != nil {
		t.Fatal(err)
	}
	held, err := tpm.LoadHandle(h, "tpm.handle")
	if err != nil {
		t.Fatalf("no key at %s: %v", handle, err)
	}
	certPEM, err := os.ReadFile(creds.CertificateFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := keypair.MatchPublic(cert, held.Public()); err != nil {
		t.Fatalf("the key at %s is not the identity's: %v", handle, err)
	}
}
