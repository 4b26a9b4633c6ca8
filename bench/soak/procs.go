package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
	"github.com/provisiond/provisiond/internal/testtool/proc"
)

// simulator is the fleetsim process, restarted on the same address and
// folder after each kill.
type simulator struct {
	o    options
	dir  string
	addr string
	mu   sync.Mutex
	srv  *fleetsimproc.Server // nil while killed
	logs []string             // one log per process, for the link drops
}

func newSimulator(o options, dir string) (*simulator, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &simulator{o: o, dir: filepath.Join(dir, "sim"), addr: addr}
	return s, fleetsimproc.Init(o.fleetsim, s.dir)
}

// start runs fleetsim serve and waits until it listens.
func (s *simulator) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := filepath.Join(filepath.Dir(s.dir), fmt.Sprintf("fleetsim-%d.log", len(s.logs)+1))
	srv, err := fleetsimproc.Start(fleetsimproc.Options{
		Bin: s.o.fleetsim, Dir: s.dir, Listen: s.addr, Log: log,
		Flags: []string{
			"--certificate-validity", s.o.validity.String(),
			"--link-loss", strconv.FormatFloat(s.o.loss, 'f', -1, 64),
			"--link-stall", strconv.FormatFloat(s.o.stall, 'f', -1, 64),
			"--trace", strings.TrimSuffix(log, ".log") + ".trace",
		},
	})
	if err != nil {
		return err
	}
	s.srv = srv
	s.logs = append(s.logs, log)
	return nil
}

// kill stops fleetsim with SIGKILL, as a crash or a power cut would.
func (s *simulator) kill() { s.end((*fleetsimproc.Server).Kill) }

// stop stops fleetsim with SIGTERM.
func (s *simulator) stop() { s.end((*fleetsimproc.Server).Stop) }

func (s *simulator) end(how func(*fleetsimproc.Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		how(s.srv)
		s.srv = nil
	}
}

func (s *simulator) ensureUp() error {
	s.mu.Lock()
	up := s.srv != nil
	s.mu.Unlock()
	if up {
		return nil
	}
	return s.start()
}

// traced counts the trace lines holding event (the link emulator's drops
// and stalls) over every fleetsim process.
func (s *simulator) traced(event string) int {
	n := 0
	for _, log := range s.logs {
		data, _ := os.ReadFile(strings.TrimSuffix(log, ".log") + ".trace")
		n += bytes.Count(data, []byte(event))
	}
	return n
}

// certificatesIssued is the number of certificates in fleetsim's registry.
func (s *simulator) certificatesIssued() int {
	out, err := exec.Command(s.o.fleetsim, "registry", "--dir", s.dir).Output()
	if err != nil {
		return -1
	}
	var reg struct {
		Certificates []json.RawMessage `json:"certificates"`
	}
	if json.Unmarshal(out, &reg) != nil {
		return -1
	}
	return len(reg.Certificates)
}

// chaos kills fleetsim after a random uptime of 3 to 20 s and restarts it
// after a random downtime of 0.2 to 3 s, until ctx ends; it sends the
// number of kills.
func chaos(ctx context.Context, s *simulator, rng *rand.Rand) <-chan int {
	done := make(chan int, 1)
	go func() {
		kills := 0
		defer func() { done <- kills }()
		// Drawn from rng only, so that a seed replays the schedule.
		between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(between(3*time.Second, 20*time.Second)):
			}
			s.kill()
			kills++
			select {
			case <-ctx.Done():
				return
			case <-time.After(between(200*time.Millisecond, 3*time.Second)):
			}
			if err := s.start(); err != nil {
				logf("restart %d: %v", kills, err)
			}
		}
	}()
	return done
}

// writeDaemonConfig adds the soak's settings to the config fleetsim init
// wrote: the address fleetsim serves on, a state folder, fast retries, rotation at half the certificate's
// life and a proof every 2 s.
func writeDaemonConfig(s *simulator) (string, error) {
	path := filepath.Join(s.dir, "provisiond.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	state := filepath.Join(filepath.Dir(s.dir), "state")
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "state_directory:") && !strings.HasPrefix(line, "endpoint:") {
			kept = append(kept, line)
		}
	}
	extra := fmt.Sprintf(`endpoint: %s
state_directory: %s
retry:
  initial: 100ms
  max: 2s
  response_timeout: 3s
rotation:
  before_expiry: 50%%
verify_every: 2s
`, s.addr, state)
	return path, os.WriteFile(path, []byte(strings.Join(kept, "\n")+"\n"+extra), 0o644)
}

// daemon is the provisiond process.
type daemon struct {
	proc      *proc.Proc
	logPath   string
	statsPath string
}

func startDaemon(bin, config, dir string) (*daemon, error) {
	d := &daemon{logPath: filepath.Join(dir, "provisiond.log"), statsPath: filepath.Join(dir, "stats")}
	f, err := os.Create(d.logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, "run", "--config", config)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "PROVISIOND_DEBUG_STATS="+d.statsPath)
	if d.proc, err = proc.Start(cmd); err != nil {
		return nil, fmt.Errorf("provisiond run: %w", err)
	}
	return d, nil
}

func (d *daemon) pid() int { return d.proc.PID() }

// stop sends SIGTERM and reports how the daemon ended: nil for exit 0, an
// error if it had to be killed or exited otherwise.
func (d *daemon) stop() error {
	d.proc.Stop()
	return d.proc.Err()
}

// goroutines reads the daemon's debug stats file; -1 when unreadable.
func (d *daemon) goroutines() int {
	data, err := os.ReadFile(d.statsPath)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(data), "goroutines ")))
	if err != nil {
		return -1
	}
	return n
}
