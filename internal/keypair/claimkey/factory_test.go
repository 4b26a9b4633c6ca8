package claimkey_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/testtool"
)

// The factory steps of provisiond(8), run as written against swtpm, give
// claim keys that provisiond uses.
func TestFactoryStepsFromTheManual(t *testing.T) {
	testtool.Need(t, "tpm2_import", "tpm2-tools")
	openssl := testtool.Need(t, "openssl", "openssl")
	sw := tpmtest.Start(t)
	dir := t.TempDir()
	env := append(os.Environ(), "TPM2TOOLS_TCTI="+sw.TCTI(), "TPM2OPENSSL_TCTI="+sw.TCTI())
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		// swtpm over TCP has no resource manager: what a tool leaves loaded
		// stays in one of its three object slots (/dev/tpmrm0 flushes it).
		flush := exec.Command("tpm2_flushcontext", "-t")
		flush.Env = env
		if out, err := flush.CombinedOutput(); err != nil {
			t.Fatalf("tpm2_flushcontext: %v\n%s", err, out)
		}
	}

	// Import an existing claim key and keep it at a persistent handle.
	soft, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(soft)
	os.WriteFile(filepath.Join(dir, "claim.pem.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	run("tpm2_createprimary", "-C", "o", "-G", "ecc", "-c", "srk.ctx")
	run("tpm2_import", "-C", "srk.ctx", "-G", "ecc", "-i", "claim.pem.key", "-u", "claim.pub", "-r", "claim.priv")
	run("tpm2_load", "-C", "srk.ctx", "-u", "claim.pub", "-r", "claim.priv", "-c", "claim.ctx")
	run("tpm2_evictcontrol", "-C", "o", "-c", "claim.ctx", "0x81000002")
	pub, err := claimkey.Public("handle:0x81000002", claimkey.Devices{TPM: claimkey.Dial(tpmkey.Settings{Device: sw.Device})})
	if err != nil {
		t.Fatal(err)
	}
	if !soft.PublicKey.Equal(pub) {
		t.Fatal("the key at the handle is not the imported one")
	}

	// Make the claim key in the TPM with OpenSSL's tpm2 provider.
	run(openssl, "genpkey", "-provider", "tpm2", "-algorithm", "EC", "-pkeyopt", "group:P-256", "-out", "claim.tss2.pem")
	run(openssl, "req", "-provider", "tpm2", "-provider", "default", "-new", "-key", "claim.tss2.pem", "-subj", "/CN=claim", "-out", "claim.csr")
	csrPEM, _ := os.ReadFile(filepath.Join(dir, "claim.csr"))
	csr, err := keypair.CertificateRequest(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca := tpmtest.NewCA(t)
	certFile := writeFile(t, dir, "claim.pem.crt", ca.Issue("claim", csr.PublicKey))
	cert, closeKey, err := claimkey.Certificate(certFile, filepath.Join(dir, "claim.tss2.pem"), claimkey.Devices{TPM: claimkey.Dial(tpmkey.Settings{Device: sw.Device})})
	if err != nil {
		t.Fatalf("a claim key made by openssl genpkey -provider tpm2: %v", err)
	}
	handshake(t, ca, cert)
	closeKey()
}
