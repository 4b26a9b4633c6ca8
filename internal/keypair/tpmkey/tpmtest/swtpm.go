// Package tpmtest runs a real software TPM (swtpm) for tests: on
// 127.0.0.1, with its state in a temporary folder, bounded in time and
// stopped by PID when the test ends (internal/testtool/swtpm launches it).
// Any package's tests may use it; it is not linked into the daemon.
package tpmtest

import (
	"path/filepath"
	"testing"

	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/swtpm"
)

// SWTPM is a running swtpm.
type SWTPM struct {
	// Port is the TPM command port; CtrlPort is swtpm's control channel.
	Port, CtrlPort int
	// StateDir holds the TPM's persistent state; it survives Restart.
	StateDir string
	// Device is the tpm.device setting that reaches it.
	Device string

	tb  testing.TB
	tpm *swtpm.TPM
}

// Start starts swtpm with a new, empty state folder. The test is skipped
// without swtpm outside CI and fails without it under CI.
func Start(tb testing.TB) *SWTPM {
	tb.Helper()
	bin := testtool.Need(tb, "swtpm", "swtpm")
	dir := tb.TempDir()
	tpm, err := swtpm.Start(bin, filepath.Join(dir, "state"), filepath.Join(dir, "swtpm.log"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tpm.Stop)
	return &SWTPM{Port: tpm.Port, CtrlPort: tpm.CtrlPort, StateDir: tpm.StateDir, Device: tpm.Device(), tb: tb, tpm: tpm}
}

// Restart stops swtpm and starts it again on the same state and ports, as
// a reboot does: transient objects are gone, persistent handles remain.
func (s *SWTPM) Restart() {
	s.tb.Helper()
	if err := s.tpm.Restart(); err != nil {
		s.tb.Fatalf("swtpm restart: %v", err)
	}
}

// Stop stops swtpm (SIGTERM, so that it saves its state; SIGKILL after a
// bound). Safe to call twice.
func (s *SWTPM) Stop() { s.tpm.Stop() }
