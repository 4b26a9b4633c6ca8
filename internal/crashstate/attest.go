package crashstate

import (
	"bufio"
	"crypto"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/testtool/proc"
	"github.com/provisiond/provisiond/internal/testtool/swtpm"
)

// attestHandle is where an attestation flow's factory puts the AK.
const attestHandle = "0x81020000"

// attestation is what an attestation flow runs with: a test OEM CA, the
// unit's manufacturer certificate and AK (made by the factory script in
// the flow's TPM before the recording), and attest-hook --listen as the
// template's hook, for the recording and every check.
type attestation struct {
	dir  string // the OEM CA's files and the unit's certificate
	ak   crypto.PublicKey
	hook *proc.Proc
}

func (a *attestation) certificate() string { return filepath.Join(a.dir, "attestation.crt") }

// config is the daemon's attestation section.
func (a *attestation) config() string {
	return fmt.Sprintf("attestation: {format: tpm2-certify, key: \"handle:%s\", certificate: %q}\n", attestHandle, a.certificate())
}

// Stop stops the hook.
func (a *attestation) Stop() {
	if a != nil && a.hook != nil {
		a.hook.Stop()
	}
}

// attestedTemplate names the thing from the hook's override only. It is
// the explorer's own, as fleetsim's flags are: the checker imports none of
// the daemon's packages (attest.ExampleTemplate is the daemon side's).
const attestedTemplate = `{
  "Parameters": {"ThingName": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}},
    "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}}
  }
}`

// startAttestation makes the OEM CA in base/oem, starts the hook trusting
// it, and makes it GatewayTemplate's hook in the fleetsim folder fleet
// (before fleetsim serves it; every worker's copy keeps the setting).
func startAttestation(t Tools, base, fleet string) (*attestation, error) {
	a := &attestation{dir: filepath.Join(base, "oem")}
	if err := os.MkdirAll(a.dir, 0o750); err != nil {
		return nil, err
	}
	ca := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(a.dir, "ca.key"), "-out", filepath.Join(a.dir, "ca.crt"), "-subj", "/CN=crashstates OEM", "-days", "30")
	if out, err := ca.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("the OEM CA: openssl: %v: %s", err, out)
	}
	cmd := exec.Command(t.AttestHook, "--roots", filepath.Join(a.dir, "ca.crt"), "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(base, "attest-hook.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if a.hook, err = proc.Start(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("attest-hook: %w", err)
	}
	go func() { <-a.hook.Done(); logf.Close() }()
	url, err := listeningURL(stdout, a.hook)
	if err != nil {
		a.Stop()
		return nil, err
	}
	settings := fmt.Sprintf(`{"enabled": true, "preProvisioningHook": {"url": %q}}`, url)
	for name, data := range map[string]string{"GatewayTemplate.json": attestedTemplate, "GatewayTemplate.settings.json": settings} {
		if err := os.WriteFile(filepath.Join(fleet, "templates", name), []byte(data), 0o644); err != nil {
			a.Stop()
			return nil, err
		}
	}
	return a, nil
}

// listeningURL reads attest-hook's "listening on HOST:PORT" line.
func listeningURL(stdout io.Reader, p *proc.Proc) (string, error) {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening on ")
		if !ok {
			return "", fmt.Errorf("attest-hook printed %q", s)
		}
		return "http://" + addr + "/hook", nil
	case <-p.Done():
		return "", fmt.Errorf("attest-hook exited: %v", p.Err())
	case <-time.After(15 * time.Second):
		return "", fmt.Errorf("attest-hook did not listen")
	}
}

// makeUnit runs the factory script on the flow's TPM, with nothing else
// connected to it, and remembers the AK it made.
func (a *attestation) makeUnit(t Tools, tpm *swtpm.TPM) error {
	cmd := exec.Command("bash", t.FactoryScript, "--format", "tpm2-certify", "--serial", "SN-CRASHSTATES",
		"--ca-cert", filepath.Join(a.dir, "ca.crt"), "--ca-key", filepath.Join(a.dir, "ca.key"), "--out", a.dir,
		"--tcti", fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", tpm.Port), "--handle", attestHandle)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("factory script: %v: %s", err, out)
	}
	var err error
	a.ak, err = heldAt(tpm, attestHandle)
	return err
}

// checkAK reports, once the daemon has stopped, whether the AK the factory
// made is still at its handle.
func (a *attestation) checkAK(tpm *swtpm.TPM) string {
	held, err := heldAt(tpm, attestHandle)
	switch {
	case err != nil:
		return "the attestation key at " + attestHandle + " is gone: " + err.Error()
	case !samePublic(a.ak, held):
		return "the attestation key at " + attestHandle + " was replaced"
	}
	return ""
}
