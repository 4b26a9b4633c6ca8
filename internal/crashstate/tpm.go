package crashstate

import (
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"
)

// swtpm is a software TPM this tool started on 127.0.0.1, stopped by its
// PID. Its state lives in dir, which outlives it.
type swtpm struct {
	cmd    *exec.Cmd
	port   int
	dir    string
	exited chan struct{}
}

// startSWTPM runs swtpm on dir (created if missing) on two free adjacent
// ports and waits until both accept.
func startSWTPM(bin, dir string) (*swtpm, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := freePortPair()
		if err != nil {
			return nil, err
		}
		// Another process may take a port between the pick and the bind.
		s, err := trySWTPM(bin, dir, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("swtpm --tpmstate dir=%s: %w", dir, lastErr)
}

func trySWTPM(bin, dir string, port int) (*swtpm, error) {
	s := &swtpm{port: port, dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
		"--tpmstate", "dir="+dir,
		"--flags", "not-need-init,startup-clear")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case <-s.exited:
			return nil, errors.New("exited at start")
		default:
		}
		// A probe of the command port holds its only client slot until it
		// closes, which it does at once.
		if accepts(port+1) && accepts(port) {
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("not listening on 127.0.0.1:%d", port)
}

// deviceOrNone is the tpm.device setting that reaches it; "" without one.
func (s *swtpm) deviceOrNone() string {
	if s == nil {
		return ""
	}
	return "tcp://127.0.0.1:" + strconv.Itoa(s.port)
}

// stop ends swtpm by its PID (SIGTERM: it saves its state).
func (s *swtpm) stop() { stopByPID(s.cmd.Process, s.exited) }

func freePortPair() (int, error) {
	for range 20 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l1.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("found no two adjacent free ports")
}

func accepts(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// tss2Public returns the public key inside a TSS2 PRIVATE KEY PEM, so
// that the pair can be matched without the TPM.
func tss2Public(data []byte) (crypto.PublicKey, error) {
	k, err := keyfile.Decode(data)
	if err != nil {
		return nil, err
	}
	return k.PublicKey()
}

// isTSS2 reports whether a key file is a TPM key (a TSS2 PEM).
func isTSS2(data []byte) bool {
	b, _ := pem.Decode(data)
	return b != nil && b.Type == "TSS2 PRIVATE KEY"
}

// matchesTSS2 reports why a TSS2 key file is not the certificate's key.
func matchesTSS2(certPEM, keyPEM []byte) error {
	cert, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	pub, err := tss2Public(keyPEM)
	if err != nil {
		return fmt.Errorf("TSS2 key: %w", err)
	}
	if !samePublic(cert.PublicKey, pub) {
		return errors.New("the TSS2 key is not the certificate's key")
	}
	return nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(b.Bytes)
}

func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// heldAt reads the public key the TPM holds at a persistent handle, with
// the daemon stopped (swtpm serves one client at a time).
func (s *swtpm) heldAt(handle string) (crypto.PublicKey, error) {
	h, err := strconv.ParseUint(strings.TrimPrefix(handle, "0x"), 16, 32)
	if err != nil {
		return nil, fmt.Errorf("handle %q: %w", handle, err)
	}
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	rsp, err := tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(h)}.Execute(tcpTPM{conn})
	if err != nil {
		return nil, fmt.Errorf("nothing usable at %s: %w", handle, err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return nil, err
	}
	return tpm2.Pub(*pub)
}

// tcpTPM sends TPM commands on a swtpm connection, reading each response
// whole (its size is in its header).
type tcpTPM struct{ conn net.Conn }

func (t tcpTPM) Send(cmd []byte) ([]byte, error) {
	if _, err := t.conn.Write(cmd); err != nil {
		return nil, err
	}
	hdr := make([]byte, 10) // tag, size, response code
	if _, err := io.ReadFull(t.conn, hdr); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > 1<<20 {
		return nil, fmt.Errorf("malformed TPM response (size %d)", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	_, err := io.ReadFull(t.conn, rsp[10:])
	return rsp, err
}
