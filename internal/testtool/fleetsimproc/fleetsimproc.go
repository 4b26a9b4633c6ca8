// Package fleetsimproc starts the fleetsim binary's `serve` for tests,
// benchmarks and test tools: on 127.0.0.1, ready once it prints its
// "listening on" and "api listening on" lines, bounded in time, stopped by
// its PID, its output kept in a log file for when something fails.
package fleetsimproc

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	// Prefix, when set, is a program and its arguments that run serve, such
	// as prlimit with a limit; it must exec serve, keeping the PID.
	Prefix []string
}

// Server is a running `fleetsim serve`.
type Server struct {
	Dir  string
	Addr string // HOST:PORT of the MQTT listener
	API  string // the control-plane API's base URL (http://HOST:PORT)
	Log  string // the log file

	proc    *proc.Proc
	copied  chan struct{} // closed once the output is all in the log
	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each line logged
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
	s := &Server{Dir: o.Dir, Log: cmp.Or(o.Log, filepath.Join(o.Dir, "fleetsim.log")), changed: make(chan struct{})}
	logf, err := os.Create(s.Log)
	if err != nil {
		return nil, err
	}
	// One pipe for stdout and stderr, read to its end: os/exec's own pipes
	// may close before the last lines are read.
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	args := append([]string{"serve", "--dir", o.Dir, "--listen", cmp.Or(o.Listen, "127.0.0.1:0")}, o.Flags...)
	argv := append(append(append([]string(nil), o.Prefix...), o.Bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = pw, pw
	s.proc, err = proc.Start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		logf.Close()
		return nil, fmt.Errorf("fleetsim serve --dir %s: %w", o.Dir, err)
	}
	ready := make(chan struct{})
	s.copied = make(chan struct{})
	go func() {
		defer close(s.copied)
		defer logf.Close()
		defer pr.Close()
		s.copyLog(pr, logf, ready)
	}()
	select {
	case <-ready:
		return s, nil
	case <-s.proc.Done():
		<-s.copied
		return nil, fmt.Errorf("fleetsim serve --dir %s exited before listening: %v%s", o.Dir, s.proc.Err(), s.logTail())
	case <-time.After(StartTimeout):
		s.proc.Kill()
		<-s.copied
		return nil, fmt.Errorf("fleetsim serve --dir %s: no \"listening on\" lines in %v%s", o.Dir, StartTimeout, s.logTail())
	}
}

// copyLog copies serve's output to the log line by line, telling WaitLog
// of each, takes the two addresses from it, and closes ready once it has
// both.
func (s *Server) copyLog(out io.Reader, log io.Writer, ready chan<- struct{}) {
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	var addr, api string
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		fmt.Fprintln(log, line)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
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
	_, _ = io.Copy(log, out) // a line over the bound
}

// WaitLog returns once serve's log holds want, or with an error naming it
// when ctx ends or serve exits first.
func (s *Server) WaitLog(ctx context.Context, want string) error {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if strings.Contains(s.LogText(), want) {
			return nil
		}
		select {
		case <-changed:
		case <-s.copied:
			if strings.Contains(s.LogText(), want) {
				return nil
			}
			return fmt.Errorf("fleetsim serve exited and its log %s never said %q", s.Log, want)
		case <-ctx.Done():
			return fmt.Errorf("fleetsim serve's log %s did not say %q: %w", s.Log, want, ctx.Err())
		}
	}
}

// PID is serve's process id.
func (s *Server) PID() int { return s.proc.PID() }

// Stop ends serve by its PID with SIGTERM, so that it saves its registry,
// and waits for it and its last lines (SIGKILL after a bound). Safe to call
// twice.
func (s *Server) Stop() {
	s.proc.Stop()
	<-s.copied
}

// Kill ends serve by its PID with SIGKILL, as a crash does.
func (s *Server) Kill() {
	s.proc.Kill()
	<-s.copied
}

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
