// Package swtpm starts a software TPM (swtpm) on 127.0.0.1 for tests and
// test tools, with its state in a given folder, bounded in time at start
// and stopped by its PID.
//
// Its two ports (the command port and the control channel at the command
// port + 1, where tpm2-tss's swtpm TCTI looks for it) are picked above the
// kernel's ephemeral range, ip_local_port_range, so that no outgoing
// connection of another program can hold one of them.
package swtpm

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/testtool/proc"
)

// StartTimeout bounds how long swtpm may take to accept on both ports.
const StartTimeout = 15 * time.Second

// portRangeFile holds the kernel's ephemeral port range.
const portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// attempts is how many port pairs Start tries: another program may bind one
// between the check and swtpm's own bind.
const attempts = 8

// TPM is a running swtpm.
type TPM struct {
	// Port is the TPM command port; CtrlPort (Port+1) is its control channel.
	Port, CtrlPort int
	// StateDir holds the TPM's persistent state; it outlives the process.
	StateDir string
	// Log is swtpm's log file ("" for none).
	Log string

	bin  string
	proc *proc.Proc
}

// Start runs the swtpm binary bin on stateDir (created if missing), logging
// to log unless it is "", on a free port pair above the ephemeral range,
// and returns once both ports accept.
func Start(bin, stateDir, log string) (*TPM, error) {
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return nil, err
	}
	t := &TPM{StateDir: stateDir, Log: log, bin: bin}
	var err error
	for range attempts {
		var port int
		if port, err = freePair(); err != nil {
			return nil, err
		}
		if err = t.start(port); err == nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("swtpm --tpmstate dir=%s: %w", stateDir, err)
}

// Device is the tpm.device setting that reaches it.
func (t *TPM) Device() string { return "tcp://127.0.0.1:" + strconv.Itoa(t.Port) }

// PID is swtpm's process id; 0 when it is stopped.
func (t *TPM) PID() int {
	if t.proc == nil {
		return 0
	}
	return t.proc.PID()
}

// Restart stops swtpm and starts it again on the same state and ports, as
// a reboot does: transient objects are gone, persistent handles remain.
func (t *TPM) Restart() error {
	t.Stop()
	return t.start(t.Port)
}

// Stop ends swtpm by its PID (SIGTERM, so that it saves its state; SIGKILL
// after a bound). Safe to call twice.
func (t *TPM) Stop() {
	if t.proc != nil {
		t.proc.Stop()
		t.proc = nil
	}
}

func (t *TPM) start(port int) error {
	t.Port, t.CtrlPort = port, port+1
	args := []string{"socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", t.Port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", t.CtrlPort),
		"--tpmstate", "dir=" + t.StateDir,
		"--flags", "not-need-init,startup-clear"}
	if t.Log != "" {
		args = append(args, "--log", "file="+t.Log+",level=1")
	}
	p, err := proc.Start(exec.Command(t.bin, args...))
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(StartTimeout); time.Now().Before(deadline); {
		select {
		case <-p.Done():
			return fmt.Errorf("exited at start on ports %d and %d: %v%s", t.Port, t.CtrlPort, p.Err(), t.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		// swtpm opens its ports one after the other. A probe of the
		// command port holds its only client slot until it closes, which
		// it does at once.
		if accepts(t.CtrlPort) && accepts(t.Port) {
			t.proc = p
			return nil
		}
	}
	p.Kill()
	return fmt.Errorf("not accepting on 127.0.0.1:%d and :%d after %v%s", t.Port, t.CtrlPort, StartTimeout, t.logTail())
}

func (t *TPM) logTail() string {
	if t.Log == "" {
		return ""
	}
	data, err := os.ReadFile(t.Log)
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return "; " + filepath.Base(t.Log) + ": " + strings.TrimSpace(string(data))
}

// freePair returns a port p, with p and p+1 free on 127.0.0.1, drawn at
// random above the kernel's ephemeral range.
func freePair() (int, error) {
	low, err := aboveEphemeral()
	if err != nil {
		return 0, err
	}
	const high = 65534 // p+1 is at most 65535
	if low > high {
		return 0, fmt.Errorf("%s leaves no two ports above it", portRangeFile)
	}
	for range 50 {
		p := low + rand.IntN(high-low+1)
		if binds(p) && binds(p+1) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port pair between %d and 65535 on 127.0.0.1", low)
}

// aboveEphemeral is the first port above ip_local_port_range.
func aboveEphemeral() (int, error) {
	data, err := os.ReadFile(portRangeFile)
	if err != nil {
		return 0, err
	}
	return parseAboveRange(string(data))
}

// parseAboveRange reads "LOW\tHIGH" as the file holds it and returns HIGH+1.
func parseAboveRange(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("%s: want two ports, got %q", portRangeFile, strings.TrimSpace(s))
	}
	high, err := strconv.Atoi(f[1])
	if err != nil || high < 1 || high > 65535 {
		return 0, fmt.Errorf("%s: upper port %q is not a port", portRangeFile, f[1])
	}
	return high + 1, nil
}

func binds(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func accepts(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
