// Package sim runs the fleetsim binary for the benchmarks: one emulator
// folder, one serving process on a free loopback port, and a daemon config
// per simulated device.
package sim

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Emulator is a running `fleetsim serve`.
type Emulator struct {
	Dir  string // the folder fleetsim init wrote
	Addr string // HOST:PORT it listens on
	cmd  *exec.Cmd
	done chan struct{}
}

// Start initialises dir with `fleetsim init` and serves it on 127.0.0.1:0.
// extra is passed to serve (e.g. --rate register=500).
func Start(fleetsim, dir string, extra ...string) (*Emulator, error) {
	out, err := exec.Command(fleetsim, "init", "--dir", dir, "--listen", "127.0.0.1:8883").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("fleetsim init: %v: %s", err, out)
	}
	args := append([]string{"serve", "--dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error"}, extra...)
	cmd := exec.Command(fleetsim, args...)
	cmd.SysProcAttr = DieWithParent()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "fleetsim.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	e := &Emulator{Dir: dir, cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(e.done)
	}()
	select {
	case e.Addr = <-addr:
		return e, nil
	case <-e.done:
		return nil, fmt.Errorf("fleetsim serve exited before listening (see %s)", logf.Name())
	case <-time.After(20 * time.Second):
		e.Stop()
		return nil, fmt.Errorf("fleetsim serve did not listen within 20s")
	}
}

// StartInTemp starts an emulator in a new temp folder named after prefix.
// The returned stop ends it and removes the folder.
func StartInTemp(fleetsim, prefix string) (*Emulator, func(), error) {
	dir, err := os.MkdirTemp("", prefix+"-*")
	if err != nil {
		return nil, nil, err
	}
	emu, err := Start(fleetsim, filepath.Join(dir, "sim"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return emu, func() {
		emu.Stop()
		os.RemoveAll(dir)
	}, nil
}

// Stop ends the emulator and waits for it.
func (e *Emulator) Stop() {
	_ = e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// DieWithParent makes a child process get SIGKILL when the benchmark
// program ends, however it ends, so that no emulator or daemon outlives it.
// The child leads its own process group, so that a signal to the group
// reaches a program run under a wrapper such as strace.
func DieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// Device describes one simulated device's daemon config.
type Device struct {
	Name    string // unique: the SerialNumber parameter and the client ID
	Method  string // csr | create-keys
	Format  string // json | cbor
	KeyType string // for csr
}

// WriteConfig writes <Dir>/<name>.yaml with its own state folder
// <Dir>/<name>/state, and returns the config path and the state folder.
func (e *Emulator) WriteConfig(d Device) (config, state string, err error) {
	keyType := d.KeyType
	if keyType == "" {
		keyType = "ec-p256"
	}
	body := fmt.Sprintf(`endpoint: %s
root_ca: ca.pem
claim:
  certificate: claim.pem.crt
  private_key: claim.pem.key
template:
  name: GatewayTemplate
  parameters: {SerialNumber: %q}
payload_format: %s
certificate_method: %s
key_type: %s
client_id: %s
state_directory: %s/state
`, e.Addr, d.Name, d.Format, d.Method, keyType, d.Name, d.Name)
	config = filepath.Join(e.Dir, d.Name+".yaml")
	if err := os.WriteFile(config, []byte(body), 0o644); err != nil {
		return "", "", err
	}
	return config, filepath.Join(e.Dir, d.Name, "state"), nil
}
