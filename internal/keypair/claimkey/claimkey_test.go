package claimkey_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

func pemKey(t *testing.T) (crypto.Signer, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// handshake proves cert in a mutual TLS 1.3 handshake.
func handshake(t *testing.T, ca *tpmtest.CA, cert tls.Certificate) {
	t.Helper()
	addr, clients := tpmtest.MutualTLSServer(t, ca, tls.VersionTLS13)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	conn.Close()
	if cn := <-clients; cn != "claim" {
		t.Fatalf("server saw %q", cn)
	}
}

func TestPEMFileAndCredential(t *testing.T) {
	dir := t.TempDir()
	ca := tpmtest.NewCA(t)
	key, keyPEM := pemKey(t)
	certFile := writeFile(t, dir, "claim.crt", ca.Issue("claim", key.Public()))
	keyFile := writeFile(t, dir, "claim.key", keyPEM)
	creds := t.TempDir()
	writeFile(t, creds, "provisiond-claim", keyPEM)
	t.Setenv("CREDENTIALS_DIRECTORY", creds)

	for _, spec := range []string{keyFile, "credential:provisiond-claim"} {
		cert, closeKey, err := claimkey.Certificate(certFile, spec, claimkey.Devices{TPM: claimkey.Dial(tpmkey.Settings{})})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		handshake(t, ca, cert)
		closeKey()
		pub, err := claimkey.Public(spec, claimkey.Devices{TPM: claimkey.Dial(tpmkey.Settings{})})
		if err != nil || !key.Public().(*ecdsa.PublicKey).Equal(pub) {
			t.Fatalf("%s: public %v", spec, err)
		}
	}
}

func TestCredentialErrorsNameTheSetting(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	os.Unsetenv("CREDENTIALS_DIRECTORY")
	_, _, err := claimkey.Open("credential:claim", claimkey.Devices{TPM: claimkey.Dial(tpmkey.Settings{})})
	assertError(t, err, "CREDENTIALS_DIRECTORY")

	t.Setenv("CREDENTIALS_DIRECTORY", t.TempDir())
	_, _, err = claimkey.Open("credential:claim", claimkey.Devices{TPM: claimkey.Dial(tpmkey.Settings{})})
	assertError(t, err, "credential claim is missing")

	for _, bad := range []string{"credential:", "credential:a/b", "handle:0x01000000", "handle:81000001"} {
		_, err := claimkey.Parse(bad)
		assertError(t, err, strings.SplitN(bad, ":", 2)[0])
	}
}

func assertError(t *testing.T, err error, words string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), "claim.private_key: ") || !strings.Contains(err.Error(), words) {
		t.Fatalf("error %v; want one naming claim.private_key saying %q", err, words)
	}
}

// A claim key in the TPM, as a TSS2 file or at a persistent handle, signs
// the claim session's handshake.
func TestClaimKeyInTPM(t *testing.T) {
	sw := tpmtest.Start(t)
	ca := tpmtest.NewCA(t)
	dir := t.TempDir()
	settings := tpmkey.Settings{Device: sw.Device}

	foreign := tpmtest.PersistForeignKey(t, sw.Device, 0x81000002)
	handleCert := writeFile(t, dir, "handle.crt", ca.Issue("claim", foreign))

	tpm, err := tpmkey.Open(settings)
	if err != nil {
		t.Fatal(err)
	}
	made, err := tpm.CreateKey("ec-p256")
	if err != nil {
		t.Fatal(err)
	}
	tpm.Close()
	tss2 := writeFile(t, dir, "claim.tss2.pem", made.File())
	tss2Cert := writeFile(t, dir, "tss2.crt", ca.Issue("claim", made.Public()))

	for _, c := range []struct{ cert, spec string }{{handleCert, "handle:0x81000002"}, {tss2Cert, tss2}} {
		pub, err := claimkey.Public(c.spec, claimkey.Devices{TPM: claimkey.Dial(settings)})
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		cert, closeKey, err := claimkey.Certificate(c.cert, c.spec, claimkey.Devices{TPM: claimkey.Dial(settings)})
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if !cert.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(pub) {
			t.Fatalf("%s: Public disagrees with the certificate", c.spec)
		}
		handshake(t, ca, cert)
		closeKey()
	}

	// The daemon's way: one TPM for the device key and the claim key.
	shared, err := tpmkey.Open(settings)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	if _, err := shared.CreateKey("ec-p256"); err != nil {
		t.Fatal(err)
	}
	cert, closeKey, err := claimkey.Certificate(handleCert, "handle:0x81000002", claimkey.Devices{TPM: claimkey.Shared(shared)})
	if err != nil {
		t.Fatal(err)
	}
	handshake(t, ca, cert)
	closeKey()
	if _, err := shared.CreateKey("ec-p256"); err != nil {
		t.Fatalf("the shared TPM after the claim session: %v", err)
	}
	shared.Close()

	_, _, err = claimkey.Certificate(handleCert, tss2, claimkey.Devices{TPM: claimkey.Dial(settings)})
	assertError(t, err, "does not pair")
	_, _, err = claimkey.Open("handle:0x81000003", claimkey.Devices{TPM: claimkey.Dial(settings)})
	assertError(t, err, "no key at 0x81000003")
}
