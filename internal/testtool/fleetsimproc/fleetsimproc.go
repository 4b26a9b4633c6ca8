// Package fleetsimproc starts the fleetsim binary's `serve` for tests,
// benchmarks and test tools: on 127.0.0.1, ready once it prints its
// "listening on" and "api listening on" lines, bounded in time, stopped by
// its PID, its output kept in a log file for when something fails.
package fleetsimproc

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/testtool/proc"
)

// StartTimeout bounds how long serve may take to print its addresses.
const StartTimeout = 20 * time.Second

// Options say what to serve.
type Options struct {
	Bin string // the fleetsim binary
	Dir string // a folder `fleetsim init` made
	// Listen is the MQTT address (default 127.0.0.1:0, a free port).
	Listen string
	// Flags are more serve flags, e.g. --fault, --rate, --log-level.
	Flags []string
	// Log receives serve's stdout and stderr (default Dir/fleetsim.log).
	Log string
}

// Server is a running `fleetsim serve`.
type Server struct {
	Dir  string
	Addr string // HOST:PORT of the MQTT listener
	API  string // the control-plane API's base URL (http://HOST:PORT)
	Log  string // the log file

	proc *proc.Proc
}

// Init runs `fleetsim init` on dir. The address it records is not served;
// Start picks the port.
func Init(bin, dir string) error {
	if out, err := exec.Command(bin, "init", "--dir", dir, "--listen", "127.0.0.1:8883").CombinedOutput(); err != nil {
		return fmt.Errorf("fleetsim init --dir %s: %v: %s", dir, err, out)
	}
	return nil
}

// Start runs `fleetsim serve` and returns once it listens.
func Start(o Options) (*Server, error) {
	s := &Server{Dir: o.Dir, Log: cmp.Or(o.Log, filepath.Join(o.Dir, "fleetsim.log"))}
	logf, err := os.Create(s.Log)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--dir", o.Dir, "--listen", cmp.Or(o.Listen, "127.0.0.1:0")}, o.Flags...)
	cmd := exec.Command(o.Bin, args...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if s.proc, err = proc.Start(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("fleetsim serve --dir %s: %w", o.Dir, err)
	}
	ready := make(chan struct{})
	go s.readAddresses(stdout, logf, ready)
	go func() { <-s.proc.Done(); logf.Close() }()
	select {
	case <-ready:
		return s, nil
	case <-s.proc.Done():
		return nil, fmt.Errorf("fleetsim serve --dir %s exited before listening: %v%s", o.Dir, s.proc.Err(), s.logTail())
	case <-time.After(StartTimeout):
		s.proc.Kill()
		return nil, fmt.Errorf("fleetsim serve --dir %s: no \"listening on\" lines in %v%s", o.Dir, StartTimeout, s.logTail())
	}
}

// readAddresses copies serve's stdout to the log, taking the two addresses
// from it, and closes ready once it has both.
func (s *Server) readAddresses(stdout io.Reader, log io.Writer, ready chan<- struct{}) {
	sc := bufio.NewScanner(stdout)
	var addr, api string
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if ready == nil {
			continue
		}
		if a, ok := strings.CutPrefix(line, "api listening on "); ok {
			api = strings.TrimSpace(a)
		} else if a, ok := strings.CutPrefix(line, "listening on "); ok {
			addr = strings.TrimSpace(a)
		}
		if addr != "" && api != "" {
			s.Addr, s.API = addr, api
			close(ready)
			ready = nil
		}
	}
	_, _ = io.Copy(log, stdout)
}

// PID is serve's process id.
func (s *Server) PID() int { return s.proc.PID() }

// Stop ends serve by its PID with SIGTERM, so that it saves its registry,
// and waits for it (SIGKILL after a bound). Safe to call twice.
func (s *Server) Stop() { s.proc.Stop() }

// Kill ends serve by its PID with SIGKILL, as a crash does.
func (s *Server) Kill() { s.proc.Kill() }

// LogText is what serve has written so far.
func (s *Server) LogText() string {
	data, _ := os.ReadFile(s.Log)
	return string(data)
}

func (s *Server) logTail() string {
	text := strings.TrimSpace(s.LogText())
	if text == "" {
		return ""
	}
	if len(text) > 4000 {
		text = "…" + text[len(text)-4000:]
	}
	return "\n" + s.Log + ":\n" + text
}
