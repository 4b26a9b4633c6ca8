// Package sim runs the fleetsim binary for the benchmarks: one emulator
// folder, one serving process on a free loopback port, and a daemon config
// per simulated device.
package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

// Emulator is a running `fleetsim serve`.
type Emulator struct {
	Dir  string // the folder fleetsim init wrote
	Addr string // HOST:PORT it listens on
	srv  *fleetsimproc.Server
}

// Start initialises dir with `fleetsim init` and serves it on 127.0.0.1:0,
// logging to dir/fleetsim.log. extra is passed to serve (e.g. --rate
// register=500).
func Start(fleetsim, dir string, extra ...string) (*Emulator, error) {
	if err := fleetsimproc.Init(fleetsim, dir); err != nil {
		return nil, err
	}
	srv, err := fleetsimproc.Start(fleetsimproc.Options{Bin: fleetsim, Dir: dir,
		Flags: append([]string{"--log-level", "error"}, extra...)})
	if err != nil {
		return nil, err
	}
	return &Emulator{Dir: dir, Addr: srv.Addr, srv: srv}, nil
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

// Stop ends the emulator by its PID and waits for it.
func (e *Emulator) Stop() { e.srv.Stop() }

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
