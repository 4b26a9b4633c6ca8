package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// simulator is the fleetsim process, restarted on the same address and
// folder after each kill.
type simulator struct {
	o    options
	dir  string
	addr string
	mu   sync.Mutex
	cmd  *exec.Cmd
	logs []string // one log per process, for the link drops
}

func newSimulator(o options, dir string) (*simulator, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &simulator{o: o, dir: filepath.Join(dir, "sim"), addr: addr}
	out, err := exec.Command(o.fleetsim, "init", "--dir", s.dir, "--listen", addr).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("fleetsim init: %v: %s", err, out)
	}
	return s, nil
}

// start runs fleetsim serve and waits until it accepts connections.
func (s *simulator) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := filepath.Join(filepath.Dir(s.dir), fmt.Sprintf("fleetsim-%d.log", len(s.logs)+1))
	f, err := os.Create(log)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(s.o.fleetsim, "serve", "--dir", s.dir,
		"--certificate-validity", s.o.validity.String(),
		"--link-loss", strconv.FormatFloat(s.o.loss, 'f', -1, 64),
		"--trace", strings.TrimSuffix(log, ".log")+".trace")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("fleetsim serve: %w", err)
	}
	s.cmd = cmd
	s.logs = append(s.logs, log)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(log)
			return fmt.Errorf("fleetsim serve did not listen on %s within 20s: %s", s.addr, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops fleetsim with SIGKILL, as a crash or a power cut would.
func (s *simulator) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *simulator) ensureUp() error {
	s.mu.Lock()
	up := s.cmd != nil
	s.mu.Unlock()
	if up {
		return nil
	}
	return s.start()
}

func (s *simulator) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// linkDrops counts the connections the link emulator dropped, from the
// packet traces of every fleetsim process.
func (s *simulator) linkDrops() int {
	n := 0
	for _, log := range s.logs {
		data, _ := os.ReadFile(strings.TrimSuffix(log, ".log") + ".trace")
		n += bytes.Count(data, []byte(`"event":"drop"`))
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
// wrote: a state folder, fast retries, rotation at half the certificate's
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
		if !strings.HasPrefix(line, "state_directory:") {
			kept = append(kept, line)
		}
	}
	extra := fmt.Sprintf(`state_directory: %s
retry:
  initial: 100ms
  max: 2s
  response_timeout: 3s
rotation:
  before_expiry: 50%%
verify_every: 2s
`, state)
	return path, os.WriteFile(path, []byte(strings.Join(kept, "\n")+"\n"+extra), 0o644)
}

// daemon is the provisiond process.
type daemon struct {
	cmd       *exec.Cmd
	logPath   string
	statsPath string
	once      sync.Once
	exit      error
}

func startDaemon(bin, config, dir string) (*daemon, error) {
	d := &daemon{logPath: filepath.Join(dir, "provisiond.log"), statsPath: filepath.Join(dir, "stats")}
	f, err := os.Create(d.logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d.cmd = exec.Command(bin, "run", "--config", config)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	d.cmd.Env = append(os.Environ(), "PROVISIOND_DEBUG_STATS="+d.statsPath)
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("provisiond run: %w", err)
	}
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM and reports how the daemon ended: nil for exit 0.
func (d *daemon) stop() error {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- d.cmd.Wait() }()
		select {
		case d.exit = <-done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-done
			d.exit = errors.New("did not stop within 30s of SIGTERM")
		}
	})
	return d.exit
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
