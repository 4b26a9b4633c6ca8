// Package tpmtest runs a real software TPM (swtpm) for tests: on
// 127.0.0.1, on free ports, with its state in a temporary folder, bounded
// in time and stopped by PID when the test ends. Any package's tests may
// use it; it is not linked into the daemon.
package tpmtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/testtool"
)

// SWTPM is a running swtpm.
type SWTPM struct {
	// Port is the TPM command port; CtrlPort is swtpm's control channel.
	Port, CtrlPort int
	// StateDir holds the TPM's persistent state; it survives Restart.
	StateDir string
	// Device is the tpm.device setting that reaches it.
	Device string

	tb     testing.TB
	bin    string
	cmd    *exec.Cmd
	exited chan error
}

// startTimeout bounds how long swtpm may take to accept connections.
const startTimeout = 15 * time.Second

// Start starts swtpm with a new, empty state folder. The test is skipped
// without swtpm outside CI and fails without it under CI.
func Start(tb testing.TB) *SWTPM {
	tb.Helper()
	bin := testtool.Need(tb, "swtpm", "swtpm")
	s := &SWTPM{tb: tb, bin: bin, StateDir: tb.TempDir()}
	tb.Cleanup(s.Stop)
	s.start()
	return s
}

// Restart stops swtpm and starts it again on the same state and ports, as
// a reboot does: transient objects are gone, persistent handles remain.
func (s *SWTPM) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.tryStart(s.Port, s.CtrlPort); err != nil {
		s.tb.Fatalf("swtpm restart: %v", err)
	}
}

func (s *SWTPM) start() {
	s.tb.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var port, ctrl int
		if port, ctrl, err = freePorts(); err != nil {
			continue
		}
		// Another process may take a port between the pick and swtpm's
		// bind; then try other ports.
		if err = s.tryStart(port, ctrl); err == nil {
			return
		}
	}
	s.tb.Fatalf("swtpm: %v", err)
}

// tryStart starts swtpm on the given ports.
func (s *SWTPM) tryStart(port, ctrlPort int) error {
	s.Port, s.CtrlPort = port, ctrlPort
	s.Device = "tcp://127.0.0.1:" + strconv.Itoa(s.Port)
	logFile := filepath.Join(s.StateDir, "swtpm.log")
	s.cmd = exec.Command(s.bin, "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.Port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.CtrlPort),
		"--tpmstate", "dir="+s.StateDir,
		"--flags", "not-need-init,startup-clear",
		"--log", "file="+logFile+",level=1")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	s.exited = exited
	go func(cmd *exec.Cmd) { exited <- cmd.Wait() }(s.cmd)
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logFile)
			s.cmd = nil
			return fmt.Errorf("exited at start: %v: %s", err, log)
		default:
		}
		// Both ports must accept: swtpm opens them one after the other. A
		// probe of the command port holds its only client slot until it
		// closes, which it does at once.
		if listening(s.CtrlPort) && listening(s.Port) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return fmt.Errorf("not listening on 127.0.0.1:%d after %v", s.CtrlPort, startTimeout)
}

// Stop stops swtpm (SIGTERM, so that it saves its state; SIGKILL after a
// bound). Safe to call twice.
func (s *SWTPM) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.kill()
	}
	s.cmd = nil
}

func (s *SWTPM) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill() //nolint:errcheck // it may have exited
		if s.exited != nil {
			<-s.exited
		}
	}
	s.cmd = nil
}

// freePorts returns two adjacent free ports: the swtpm TCTI of tpm2-tss
// (tpm2-abrmd, OpenSSL's tpm2 provider) finds the control channel at the
// command port + 1.
func freePorts() (int, int, error) {
	for attempt := 0; attempt < 20; attempt++ {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		port := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l1.Close()
		if err == nil {
			l2.Close()
			return port, port + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("found no two adjacent free ports")
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
