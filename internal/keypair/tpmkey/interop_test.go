package tpmkey_test

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/testtool"
)

// makeKeyFile creates a key in sw and writes its TSS2 file, then lets go
// of the simulator (it serves one client at a time).
func makeKeyFile(t *testing.T, sw *tpmtest.SWTPM, s tpmkey.Settings, keyType, path string) *tpmkey.Key {
	t.Helper()
	tpm, err := tpmkey.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	key, err := tpm.CreateKey(keyType)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, key.File(), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// OpenSSL's tpm2 provider reads the key file as it is (TSS2 PRIVATE KEY,
// loadable, parent the standard SRK or a persistent handle) and finds the
// same public key in the TPM.
func TestOpenSSLLoadsKeyFile(t *testing.T) {
	openssl := testtool.Need(t, "openssl", "openssl")
	sw := tpmtest.Start(t)
	tpmtest.PersistSRK(t, sw.Device, 0x81000001)
	dir := t.TempDir()
	for _, parent := range []string{"", "0x81000001"} {
		for _, keyType := range tpmkey.KeyTypes {
			path := filepath.Join(dir, keyType+parent+".tss2.pem")
			key := makeKeyFile(t, sw, tpmkey.Settings{Device: sw.Device, Parent: parent}, keyType, path)
			cmd := exec.Command(openssl, "pkey", "-provider", "tpm2", "-provider", "default", "-in", path, "-pubout")
			cmd.Env = append(os.Environ(), "TPM2OPENSSL_TCTI="+sw.TCTI())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s under %q: openssl pkey: %v\n%s", keyType, parent, err, out)
			}
			block, _ := pem.Decode(out)
			if block == nil {
				t.Fatalf("openssl printed no public key:\n%s", out)
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Fatalf("%s: OpenSSL sees another public key", keyType)
			}
		}
	}
}

// The handed-over key file serves a consumer that loads keys through
// OpenSSL's tpm2 provider: openssl s_client completes a mutual TLS 1.3
// handshake with a Go server, through tpm2-abrmd.
func TestOpenSSLMutualTLS13ThroughABRMD(t *testing.T) {
	sw := tpmtest.Start(t)
	dir := t.TempDir()
	ca := tpmtest.NewCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o600)
	for _, keyType := range []string{"ec-p256", "rsa-2048"} {
		keyFile := filepath.Join(dir, keyType+".tss2.pem")
		key := makeKeyFile(t, sw, tpmkey.Settings{Device: sw.Device}, keyType, keyFile)
		certFile := filepath.Join(dir, keyType+".crt")
		os.WriteFile(certFile, ca.Issue("device-"+keyType, key.Public()), 0o600)

		env := sw.ABRMD(t)
		addr, clients := tpmtest.MutualTLSServer(t, ca, tls.VersionTLS13)
		tpmtest.OpenSSLHandshake(t, env, addr, keyFile, certFile, caFile)
		select {
		case cn := <-clients:
			if cn != "device-"+keyType {
				t.Fatalf("server saw %q", cn)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the server never verified the client")
		}
	}
}
