package crashstate

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
	"github.com/provisiond/provisiond/internal/testtool/swtpm"
)

// Tools are the real binaries the explorer drives.
type Tools struct {
	Provisiond, Fleetsim, Strace string
	SWTPM                        string // for the TPM flows only
	// AttestHook and FactoryScript are cmd/attest-hook and
	// scripts/factory-attestation.sh, for the attestation flows only.
	AttestHook, FactoryScript string
	// SoftHSM2Util, PKCS11Tool and PKCS11Module (softhsm2's module) are
	// for the PKCS#11 flows only.
	SoftHSM2Util, PKCS11Tool, PKCS11Module string
}

// Recording is one flow as the daemon ran it under strace.
type Recording struct {
	Flow  Flow
	Base  string // this flow's folder
	Fleet string // the fleetsim folder the recording ran against
	// RecordedFleet, when set, is where Fleet was when the files were
	// recorded (a fixture replayed elsewhere); it has Fleet's length.
	RecordedFleet string
	StateDir      string
	Endpoint      string
	Initial       *Tree
	// TPMState is the swtpm state folder as the recording left it (TPM
	// flows): every check starts a swtpm on a copy of it.
	TPMState string
	Ops      []Op
	// IssuedAt is, for each certificate the service issued during the
	// recording, the op after which a crash counts it as issued: the save
	// that precedes its request.
	IssuedAt map[string]int
	// Final is the certificate credentials.json named when the recording
	// ended: the one whose key the TPM's handle then held.
	Final string
	// DropDurableAt is, for a claim-import flow, the first point at which
	// the imported claim's drop is durable (see dropDurableAt).
	DropDurableAt int
	// TokenWhole is, for a PKCS#11 flow, each token file's untorn
	// contents (see wholeTokenFiles).
	TokenWhole map[string]map[string]bool
	// Attestation runs an attestation flow (Flow.Attest); Stop it when the
	// flow's checks are done.
	Attestation *attestation
}

// config is the daemon's config: short retries so that a check takes
// ~100 ms, absolute paths so that the same bytes serve every copy; then
// the flow's own keys and its TPM, reached at tpmDevice, or its token
// through module.
func (r *Recording) config(endpoint, stateDir, tpmDevice, module string) string {
	c := r.baseConfig(endpoint, stateDir) + r.Flow.Config + r.Flow.tpmConfig(tpmDevice) + r.pkcs11Config(module)
	if r.Attestation != nil {
		c += r.Attestation.config()
	}
	return c
}

func (f Flow) tpmConfig(device string) string {
	if !f.TPM {
		return ""
	}
	handle := ""
	if f.TPMHandle != "" {
		handle = fmt.Sprintf(", handle: %q", f.TPMHandle)
	}
	return fmt.Sprintf("key_store: tpm\ntpm: {device: %q%s}\n", device, handle)
}

func (r *Recording) baseConfig(endpoint, stateDir string) string {
	claim := fmt.Sprintf("claim:\n  certificate: %s\n  private_key: %s\n",
		filepath.Join(r.Fleet, "claim.pem.crt"), filepath.Join(r.Fleet, "claim.pem.key"))
	if r.Flow.ClaimImport {
		claim = "claim: {source: import}\n"
	}
	return fmt.Sprintf(`endpoint: %s
root_ca: %s
%stemplate:
  name: GatewayTemplate
  parameters: {SerialNumber: "0001"}
payload_format: json
certificate_method: %s
key_type: %s
client_id: gateway-0001
state_directory: %s
retry: {initial: 20ms, max: 100ms, permanent: 1s, response_timeout: 5s}
`, endpoint, filepath.Join(r.Fleet, "ca.pem"), claim, r.Flow.Method, cmp.Or(r.Flow.KeyType, "ec-p256"), stateDir)
}

// Record runs flow against a fresh fleetsim in base/<flow>, the state
// directory being stateDir, and returns what the daemon did.
func Record(t Tools, flow Flow, base, stateDir string) (_ *Recording, err error) {
	r := &Recording{Flow: flow, Base: filepath.Join(base, flow.Name), StateDir: stateDir}
	r.Fleet = filepath.Join(r.Base, "fleet")
	if err := os.MkdirAll(r.Base, 0o750); err != nil {
		return nil, err
	}
	if err := fleetsimproc.Init(t.Fleetsim, r.Fleet); err != nil {
		return nil, err
	}
	if flow.Attest {
		if r.Attestation, err = startAttestation(t, r.Base, r.Fleet); err != nil {
			return nil, fmt.Errorf("flow %s: %w", flow.Name, err)
		}
		defer func() {
			if err != nil {
				r.Attestation.Stop()
			}
		}()
	}
	srv, err := startServer(t.Fleetsim, r.Fleet, flow.ServeArgs)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Stop()
		}
	}()
	r.Endpoint = srv.Addr
	var tpm *swtpm.TPM
	if flow.TPM {
		r.TPMState = filepath.Join(r.Base, "tpm")
		if tpm, err = startSWTPM(t.SWTPM, r.TPMState); err != nil {
			return nil, fmt.Errorf("flow %s: %w", flow.Name, err)
		}
		defer func() {
			if tpm != nil {
				tpm.Stop()
			}
		}()
	}
	if r.Attestation != nil {
		if err = r.Attestation.makeUnit(t, tpm); err != nil {
			return nil, fmt.Errorf("flow %s: %w", flow.Name, err)
		}
	}
	cfg := filepath.Join(r.Base, "record.yaml")
	if err := os.WriteFile(cfg, []byte(r.config(srv.Addr, stateDir, deviceOrNone(tpm), t.PKCS11Module)), 0o644); err != nil {
		return nil, err
	}
	tokenEnv, err := r.softHSMEnv(filepath.Join(r.Base, "record.softhsm2.conf"), stateDir)
	if err != nil {
		return nil, err
	}
	if flow.PKCS11 {
		if err := initToken(t, tokenEnv, stateDir); err != nil {
			return nil, fmt.Errorf("flow %s: %w", flow.Name, err)
		}
	}
	env := append(append(os.Environ(), "P="+t.Provisiond, "C="+cfg, "S="+stateDir, "A="+srv.API, "F="+r.Fleet), tokenEnv...)
	if flow.Setup {
		setup := exec.Command("sh", "-c", startDaemon+stopDaemon)
		setup.Env = env
		if out, err := setup.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("flow %s: setup: %v: %s", flow.Name, err, out)
		}
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return nil, err
	}
	if r.Initial, err = ReadTree(stateDir); err != nil {
		return nil, err
	}
	recordStart := time.Now()
	trace := filepath.Join(r.Base, "strace.log")
	args := append(append([]string{"-o", trace}, StraceArgs...), "sh", "-c", flow.Script)
	rec := exec.Command(t.Strace, args...)
	rec.Env = env
	if out, err := rec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("flow %s: strace: %v: %s", flow.Name, err, out)
	}
	// Stopped, fleetsim has saved every certificate to its registry.
	srv.Stop()
	stopped = true
	if tpm != nil {
		tpm.Stop() // it saves its state
		tpm = nil
	}
	certs, err := deviceCerts(t.Fleetsim, r.Fleet)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(trace)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	calls, err := parseTrace(f)
	if err != nil {
		return nil, fmt.Errorf("flow %s: %s: %w", flow.Name, trace, err)
	}
	b := newOpBuilder(stateDir, r.Initial)
	for _, c := range calls {
		b.add(c)
	}
	r.Ops = b.ops
	if flow.ClaimImport {
		if r.DropDurableAt = dropDurableAt(r.Ops); r.DropDurableAt > len(r.Ops) {
			return nil, fmt.Errorf("flow %s: %s: claim import made no durable drop in %s", flow.Name, trace, store.ClaimImportDir)
		}
	}
	if data, err := os.ReadFile(filepath.Join(stateDir, store.CredentialsFile)); err == nil {
		if h, err := parseHandoff(data); err == nil {
			r.Final = h.CertificateID
		}
	}
	if flow.PKCS11 {
		final, err := ReadTree(stateDir)
		if err != nil {
			return nil, err
		}
		r.TokenWhole = wholeTokenFiles(r.Initial, final, r.Ops)
	}
	r.IssuedAt = issuedAt(r.Ops, certs, recordStart)
	return r, nil
}

// issuedAt places each certificate issued during the recording at the
// last state.json save before the first file that names or holds it was
// created: its request followed that save, so a crash after it may lose a
// certificate the service issued.
func issuedAt(ops []Op, certs map[string]regCert, since time.Time) map[string]int {
	at := map[string]int{}
	for id, c := range certs {
		if c.CreatedAt.Before(since) {
			continue // issued to the device before the recording
		}
		pem := []byte(c.CertificatePEM)
		at[id] = len(ops) // never written: counted once the recording ended
		for j, o := range ops {
			if o.Kind != Write || !(bytes.Contains(o.Data, []byte(id)) || len(pem) > 0 && bytes.Contains(o.Data, pem[:min(len(pem), 200)])) {
				continue
			}
			created := j
			for k := j; k >= 0; k-- {
				if ops[k].Kind == Create && ops[k].Ino == o.Ino {
					created = k
					break
				}
			}
			at[id] = 0
			for k := created; k >= 0; k-- {
				if ops[k].Kind == Rename && ops[k].Path2 == store.StateFile {
					at[id] = k + 1
					break
				}
			}
			break
		}
	}
	return at
}
