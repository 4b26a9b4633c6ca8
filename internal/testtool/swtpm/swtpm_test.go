package swtpm

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/provisiond/provisiond/internal/testtool"
)

func TestParseAboveRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  bool
	}{
		{"32768\t60999\n", 61000, false},
		{"1024 65535", 65536, false},
		{"32768", 0, true},
		{"32768 high", 0, true},
		{"", 0, true},
	} {
		got, err := parseAboveRange(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseAboveRange(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// The pair is above the ephemeral range, both ports accept, a restart
// keeps them, and Stop ends the process by its PID.
func TestStartRestartStop(t *testing.T) {
	bin := testtool.Need(t, "swtpm", "swtpm")
	low, err := aboveEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tpm, err := Start(bin, filepath.Join(dir, "state"), filepath.Join(dir, "swtpm.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tpm.Stop)
	if tpm.Port < low || tpm.CtrlPort != tpm.Port+1 {
		t.Fatalf("ports %d and %d; want a pair at or above %d", tpm.Port, tpm.CtrlPort, low)
	}
	port := tpm.Port
	if err := tpm.Restart(); err != nil {
		t.Fatal(err)
	}
	if tpm.Port != port || !accepts(tpm.Port) || !accepts(tpm.CtrlPort) {
		t.Fatalf("after a restart: port %d (was %d), accepting %v", tpm.Port, port, accepts(tpm.Port))
	}
	pid := tpm.PID()
	tpm.Stop()
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Fatalf("swtpm (PID %d) still exists after Stop: %v", pid, err)
	}
	if tpm.PID() != 0 {
		t.Fatal("a stopped TPM reports a PID")
	}
	tpm.Stop()
}
