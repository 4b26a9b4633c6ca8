package crashstate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/testtool/proc"
)

// handoff is what a consumer reads from credentials.json.
type handoff struct {
	CertificateID   string `json:"certificateId"`
	CertificateFile string `json:"certificateFile"`
	PrivateKeyFile  string `json:"privateKeyFile"`
	// PrivateKeyHandle is where the TPM holds the key, when persistent.
	PrivateKeyHandle string `json:"privateKeyHandle,omitempty"`
	// PrivateKeyURI names a key in a PKCS#11 token instead of a file;
	// PKCS11KeyLabel is its label there.
	PrivateKeyURI  string `json:"privateKeyUri,omitempty"`
	PKCS11KeyLabel string `json:"pkcs11KeyLabel,omitempty"`
}

// parseHandoff parses credentials.json; an error means a consumer could
// not use it.
func parseHandoff(data []byte) (handoff, error) {
	var h handoff
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("credentials.json is not JSON (%d bytes)", len(data))
	}
	if h.CertificateID == "" || h.CertificateFile == "" || h.PrivateKeyFile == "" && h.PrivateKeyURI == "" {
		return h, errors.New("credentials.json lacks certificateId, certificateFile or privateKeyFile (privateKeyUri)")
	}
	return h, nil
}

// certificate reads the certificate the handoff names.
func (h handoff) certificate() (*x509.Certificate, error) {
	certPEM, err := os.ReadFile(h.CertificateFile)
	if err != nil {
		return nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", h.CertificateFile, err)
	}
	return cert, nil
}

// usable reports why the pair a handoff names cannot be used, or nil.
func (h handoff) usable() error {
	certPEM, err := os.ReadFile(h.CertificateFile)
	if err != nil {
		return fmt.Errorf("certificate of %s: %w", short(h.CertificateID), err)
	}
	if h.PrivateKeyFile == "" {
		// A token's key is judged once the daemon has stopped (readToken).
		cert, err := h.certificate()
		if err != nil {
			return err
		}
		return sameCertificate(cert.Raw, h)
	}
	keyPEM, err := os.ReadFile(h.PrivateKeyFile)
	if err != nil {
		return fmt.Errorf("private key of %s: %w", short(h.CertificateID), err)
	}
	// A TPM key's file holds its public part: the pair is matched on it.
	var der []byte
	if isTSS2(keyPEM) {
		err = matchesTSS2(certPEM, keyPEM)
		if cert, perr := parseCert(certPEM); perr == nil {
			der = cert.Raw
		}
	} else {
		var pair tls.Certificate
		if pair, err = tls.X509KeyPair(certPEM, keyPEM); err == nil {
			der = pair.Certificate[0]
		}
	}
	if err != nil {
		return fmt.Errorf("%s and %s do not form a pair: %v", h.CertificateFile, h.PrivateKeyFile, err)
	}
	return sameCertificate(der, h)
}

// sameCertificate reports whether der is the certificate h names.
func sameCertificate(der []byte, h handoff) error {
	sum := sha256.Sum256(der)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), h.CertificateID) {
		return fmt.Errorf("%s is not certificate %s", h.CertificateFile, short(h.CertificateID))
	}
	return nil
}

func short(id string) string { return id[:min(len(id), 12)] }

// watcher reads the handoff throughout a check, as a consumer would: every
// credentials.json it sees must name a usable pair, and the identity last
// handed over must stay usable until another replaces it.
type watcher struct {
	path    string
	current *handoff
	mu      sync.Mutex
	fault   string
	stop    chan struct{}
	done    chan struct{}
}

// startWatcher reads the handoff at path now and after each change in its
// folder (the state directory), a subfolder (the identities' files), or the
// folders of the files the handoff names, so that a named file that changes
// or disappears under an unchanged credentials.json is seen too.
func startWatcher(path string, previous *handoff) (*watcher, error) {
	changes, err := watchTree(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	w := &watcher{path: path, current: previous, stop: make(chan struct{}), done: make(chan struct{})}
	w.poll() // the state the power cut left, before the daemon starts
	go func() {
		defer close(w.done)
		defer changes.Close()
		for {
			select {
			case <-w.stop:
				w.poll()
				return
			case <-changes.C:
				w.poll()
			}
			for _, dir := range w.namedFolders() {
				changes.add(dir)
			}
		}
	}()
	return w, nil
}

func (w *watcher) poll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fault != "" {
		return
	}
	data, err := os.ReadFile(w.path)
	if err == nil {
		h, perr := parseHandoff(data)
		if perr == nil {
			perr = h.usable()
		}
		if perr != nil {
			// A replacement between the reads is not a fault: read again.
			if again, _ := os.ReadFile(w.path); !bytes.Equal(again, data) {
				return
			}
			w.fault = "handed over an unusable pair: " + perr.Error()
			return
		}
		w.current = &h
		return
	}
	if w.current != nil {
		if err := w.current.usable(); err != nil {
			if _, serr := os.Stat(w.path); serr == nil {
				return // replaced meanwhile
			}
			w.fault = "the identity handed over before is no longer usable: " + err.Error()
		}
	}
}

// namedFolders are the folders of the files the current handoff names.
func (w *watcher) namedFolders() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current == nil {
		return nil
	}
	var dirs []string
	for _, f := range []string{w.current.CertificateFile, w.current.PrivateKeyFile} {
		if f != "" { // a key at a TPM handle has no file
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	return dirs
}

func (w *watcher) finish() string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fault
}

// Result is a check's verdict.
type Result struct {
	Recovered bool
	Refused   bool // exit 65 on a state file the model made unreadable
	// TokenTorn: not recovered, in a state where the cut tore softhsm2's
	// own files (see tornTokenFile).
	TokenTorn bool
	Fault     string // why it did not recover
	Orphans   int
	Took      time.Duration
	// HandleUnchecked: recovered, but the key at tpm.handle could not be
	// judged (see worker.check).
	HandleUnchecked bool
}

// runDaemon starts the daemon on a crash state and waits until it is
// registered with a usable handoff naming its certificate, then stops it.
// It returns the handed-over certificate id, or the exit code when the
// daemon stopped on its own.
func runDaemon(ctx context.Context, provisiond, config, stateDir string, env []string) (certID string, exit int, log string, err error) {
	changes, err := watchTree(stateDir)
	if err != nil {
		return "", 0, "", err
	}
	defer changes.Close()
	var out bytes.Buffer
	cmd := exec.Command(provisiond, "run", "--config", config)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	daemon, err := proc.Start(cmd)
	if err != nil {
		return "", 0, "", err
	}
	exited, stop := daemon.Done(), daemon.Stop
	for {
		if registeredAs(stateDir, true) != "" {
			// Let it settle, so that what it does next (a clean-up, a
			// request it serves) is watched too; the end state must hold.
			time.Sleep(settle)
			stop()
			return registeredAs(stateDir, false), cmd.ProcessState.ExitCode(), out.String(), nil
		}
		select {
		case <-exited:
			if id := registeredAs(stateDir, false); id != "" {
				return id, cmd.ProcessState.ExitCode(), out.String(), nil
			}
			return "", cmd.ProcessState.ExitCode(), out.String(), nil
		case <-ctx.Done():
			stop()
			return "", -1, out.String(), fmt.Errorf("not registered within the check's time limit")
		case <-changes.C:
		}
	}
}

// settle is how long a daemon that looks done runs on under the watcher.
const settle = 30 * time.Millisecond

// rotationMargin keeps a rotation from starting while the daemon is
// stopped: it looks done only when none is due this soon.
const rotationMargin = time.Second

// requestFiles are the requests `provisiond reprovision [--if-refused]`
// leaves in the state directory; the daemon removes each once it has
// served it.
var requestFiles = store.RequestFiles

// registeredAs returns the certificate the daemon handed over once
// state.json says registered, credentials.json names that certificate
// with a usable pair, no request or temporary claim waits and no
// verification runs; "" before. With
// rotation, it also waits while a renewal runs or is due: a
// crash state's certificates may be past their rotation time when it is
// checked, and the daemon must finish that rotation too. due says to
// wait for a rotation due within rotationMargin as well: the daemon looks
// done only then, but the verdict after its stop does not ask it.
func registeredAs(stateDir string, due bool) string {
	for _, f := range requestFiles {
		if _, err := os.Stat(filepath.Join(stateDir, f)); err == nil {
			return ""
		}
	}
	if len(dropsLeft(stateDir)) > 0 {
		return "" // a used temporary claim goes once its identity is handed over
	}
	var st struct {
		State         string    `json:"state"`
		CertificateID string    `json:"certificateId"`
		Renewal       string    `json:"renewal"`
		RotationDueAt time.Time `json:"rotationDueAt"`
		Verifying     bool      `json:"verifying"`
	}
	data, err := os.ReadFile(filepath.Join(stateDir, store.StateFile))
	if err != nil || json.Unmarshal(data, &st) != nil || st.State != "registered" || st.Renewal != "" || st.Verifying {
		return ""
	}
	if due && !st.RotationDueAt.IsZero() && !st.RotationDueAt.After(time.Now().Add(rotationMargin)) {
		return ""
	}
	data, err = os.ReadFile(filepath.Join(stateDir, store.CredentialsFile))
	if err != nil {
		return ""
	}
	h, err := parseHandoff(data)
	if err != nil || h.CertificateID != st.CertificateID || h.usable() != nil {
		return ""
	}
	return h.CertificateID
}
