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
	"strconv"
	"strings"
	"time"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/testtool/swtpm"
)

// startSWTPM runs swtpm on dir (created if missing) and waits until it
// accepts.
func startSWTPM(bin, dir string) (*swtpm.TPM, error) { return swtpm.Start(bin, dir, "") }

// deviceOrNone is the tpm.device setting that reaches tpm; "" without one.
func deviceOrNone(tpm *swtpm.TPM) string {
	if tpm == nil {
		return ""
	}
	return tpm.Device()
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
func heldAt(tpm *swtpm.TPM, handle string) (crypto.PublicKey, error) {
	h, err := strconv.ParseUint(strings.TrimPrefix(handle, "0x"), 16, 32)
	if err != nil {
		return nil, fmt.Errorf("handle %q: %w", handle, err)
	}
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tpm.Port), 5*time.Second)
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
