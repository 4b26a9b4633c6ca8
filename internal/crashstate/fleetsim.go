package crashstate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// server is a `fleetsim serve` this tool started, stopped by its PID.
type server struct {
	cmd  *exec.Cmd
	addr string
	api  string // the control-plane API's base URL, for flows that revoke
	dir  string
}

// startServer runs `fleetsim serve --dir dir` with more flags on a free
// port of 127.0.0.1 and waits for its "listening on" and "api listening
// on" lines.
func startServer(fleetsim, dir string, more []string) (*server, error) {
	cmd := exec.Command(fleetsim, append([]string{"serve", "--dir", dir, "--listen", "127.0.0.1:0"}, more...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fleetsim serve: %w", err)
	}
	ready := make(chan *server, 1)
	go func() {
		srv := &server{cmd: cmd, dir: dir}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				srv.addr = strings.TrimSpace(addr)
			}
			if api, ok := strings.CutPrefix(sc.Text(), "api listening on "); ok {
				srv.api = strings.TrimSpace(api)
			}
			if srv.addr != "" && srv.api != "" {
				ready <- srv
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case srv := <-ready:
		return srv, nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("fleetsim serve --dir %s: no \"listening on\" line in 20s", dir)
	}
}

// stop ends the server by its PID and waits for it (it saves its registry).
func (s *server) stop() {
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	stopByPID(s.cmd.Process, done)
}

// stopByPID ends a process this tool started: SIGTERM, so that it saves
// its state, then SIGKILL after a bound; done closes when it has exited.
func stopByPID(p *os.Process, done <-chan struct{}) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		<-done
	}
}

// regCert is a certificate as `fleetsim registry` prints it.
type regCert struct {
	CertificateID  string    `json:"certificateId"`
	Status         string    `json:"status"`
	Kind           string    `json:"kind"`
	ThingName      string    `json:"thingName"`
	CreatedAt      time.Time `json:"createdAt"`
	CertificatePEM string    `json:"certificatePem"`
}

// deviceCerts reads the device certificates of a fleetsim folder, with the
// ones it deleted unused (its orphans), by id.
func deviceCerts(fleetsim, dir string) (map[string]regCert, error) {
	out, err := exec.Command(fleetsim, "registry", "--dir", dir).Output()
	if err != nil {
		return nil, fmt.Errorf("fleetsim registry --dir %s: %w", dir, err)
	}
	var reg struct {
		Certificates []regCert `json:"certificates"`
		Orphans      []regCert `json:"orphans"`
	}
	if err := json.Unmarshal(out, &reg); err != nil {
		return nil, fmt.Errorf("fleetsim registry --dir %s: %w", dir, err)
	}
	certs := map[string]regCert{}
	for _, c := range append(reg.Certificates, reg.Orphans...) {
		if c.Kind != "claim" {
			certs[c.CertificateID] = c
		}
	}
	return certs, nil
}

// copyDir copies the regular files of a flat-or-nested folder.
func copyDir(from, to string) error {
	return filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o750)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, fi.Mode().Perm())
	})
}
