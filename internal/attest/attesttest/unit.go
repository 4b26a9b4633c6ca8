package attesttest

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/testtool"
)

// Unit is a device as the factory left it.
type Unit struct {
	Format attest.Format
	Serial string
	// Chain is the manufacturer certificate and its chain, DER.
	Chain [][]byte
	// CertificateFile is the chain as the factory wrote it.
	CertificateFile string
	// KeyFile is the signature format's key file.
	KeyFile string
	// Signer is the signature format's key.
	Signer crypto.Signer
	// Device and AK are the tpm2-certify format's TPM and attestation key.
	Device string
	AK     tpm2.TPMHandle
	// Settings is the line the factory script printed for config.yaml.
	Settings string
}

// FactoryScript is scripts/factory-attestation.sh.
func FactoryScript(tb testing.TB) string {
	return filepath.Join(moduleRoot(tb), "scripts", "factory-attestation.sh")
}

// moduleRoot is the folder of go.mod, found from the test's folder up.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("attesttest: no go.mod above the test's folder")
		}
		dir = parent
	}
}

// runFactory runs the factory script and returns what it printed.
func runFactory(tb testing.TB, args ...string) string {
	tb.Helper()
	testtool.Need(tb, "openssl", "openssl")
	cmd := exec.Command("bash", append([]string{FactoryScript(tb)}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		tb.Fatalf("factory-attestation.sh %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

// SignatureUnit runs the factory script for the signature format.
func SignatureUnit(tb testing.TB, oem *CA, serial string) *Unit {
	tb.Helper()
	out := tb.TempDir()
	settings := runFactory(tb, "--format", "signature", "--serial", serial,
		"--ca-cert", oem.CertFile, "--ca-key", oem.KeyFile, "--out", out)
	u := &Unit{Format: attest.FormatSignature, Serial: serial, Settings: settings,
		CertificateFile: filepath.Join(out, "attestation.crt"), KeyFile: filepath.Join(out, "attestation.key")}
	keyPEM, err := os.ReadFile(u.KeyFile)
	if err != nil {
		tb.Fatal(err)
	}
	if u.Signer, err = keypair.PrivateKey(keyPEM); err != nil {
		tb.Fatal(err)
	}
	u.Chain = readChain(tb, u.CertificateFile)
	return u
}

// TPMUnit runs the factory script for the tpm2-certify format on the TPM
// that tcti reaches (device is its tpm.device), the AK at handle.
func TPMUnit(tb testing.TB, oem *CA, serial, device, tcti string, handle tpm2.TPMHandle) *Unit {
	tb.Helper()
	testtool.Need(tb, "tpm2_createak", "tpm2-tools")
	out := tb.TempDir()
	settings := runFactory(tb, "--format", "tpm2-certify", "--serial", serial,
		"--ca-cert", oem.CertFile, "--ca-key", oem.KeyFile, "--out", out,
		"--tcti", tcti, "--handle", fmt.Sprintf("0x%08x", uint32(handle)))
	u := &Unit{Format: attest.FormatTPM2Certify, Serial: serial, Settings: settings, Device: device, AK: handle,
		CertificateFile: filepath.Join(out, "attestation.crt")}
	u.Chain = readChain(tb, u.CertificateFile)
	return u
}

func readChain(tb testing.TB, path string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	certs, err := keypair.Certificates(data)
	if err != nil {
		tb.Fatal(err)
	}
	var chain [][]byte
	for _, c := range certs {
		chain = append(chain, c.Raw)
	}
	return chain
}

// Provisioning is one CreateCertificateFromCsr answer, as the hook sees it.
type Provisioning struct {
	Event   attest.Event
	Message attest.Message
}

// NewProvisioning has service (the stand-in for AWS IoT's CA) issue a
// certificate for pub, and returns the event a hook would get for it,
// without parameters.
func NewProvisioning(tb testing.TB, service *CA, pub crypto.PublicKey, template, clientID string) Provisioning {
	tb.Helper()
	der := service.Issue(tb, pub, pkix.Name{CommonName: "AWS IoT Certificate"}, time.Now().Add(-time.Minute),
		time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC))
	sum := sha256.Sum256(der)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ev := attest.Event{
		ClaimCertificateID: "c1a1m0000000000000000000000000000000000000000000000000000000000",
		CertificateID:      hex.EncodeToString(sum[:]),
		CertificatePEM:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		TemplateARN:        "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/" + template,
		ClientID:           clientID,
		Parameters:         map[string]string{"SerialNumber": "chosen-by-the-device"},
	}
	return Provisioning{Event: ev, Message: attest.Message{CertificateID: ev.CertificateID, TemplateName: template,
		ClientID: clientID, SPKI: cert.RawSubjectPublicKeyInfo}}
}

// With returns the event carrying s in the default parameters.
func (p Provisioning) With(tb testing.TB, s attest.Statement) attest.Event {
	tb.Helper()
	params, err := s.Parameters(attest.DefaultNames)
	if err != nil {
		tb.Fatal(err)
	}
	ev := p.Event
	ev.Parameters = map[string]string{}
	for k, v := range p.Event.Parameters {
		ev.Parameters[k] = v
	}
	for k, v := range params {
		ev.Parameters[k] = v
	}
	return ev
}

// Sign makes the signature format's statement for m.
func (u *Unit) Sign(tb testing.TB, m attest.Message) attest.Statement {
	tb.Helper()
	s, err := attest.SignStatement(u.Signer, u.Chain, m)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Certify makes the tpm2-certify statement for key (in t) and m with the
// unit's AK.
func (u *Unit) Certify(tb testing.TB, t *tpmkey.TPM, key *tpmkey.Key, m attest.Message) attest.Statement {
	tb.Helper()
	ak, err := t.LoadAttestationKey(u.AK, "attestation.key")
	if err != nil {
		tb.Fatal(err)
	}
	att, sig, pub, err := t.Certify(key, ak, m.Digest())
	if err != nil {
		tb.Fatal(err)
	}
	return attest.Statement{Format: attest.FormatTPM2Certify, Chain: u.Chain, Statement: att, Signature: sig, Key: pub}
}
