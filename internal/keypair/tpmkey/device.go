package tpmkey

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// TPM is an open TPM. Its methods, and its keys' Sign, may be called from
// several goroutines (two TLS handshakes at once).
type TPM struct {
	settings Settings
	conn     transport.TPMCloser
	// mu makes each step (load the parent, load the key, sign, flush) one
	// unit: a byte stream cannot interleave commands, and steps that
	// overlapped would hold more of the TPM's few object slots.
	mu sync.Mutex
}

// Open opens the TPM that s names. For tcp:// it also starts the TPM if
// nobody has (a simulator fresh from power-on), and flushes transient
// objects a killed earlier run left behind: there is no resource manager
// on that path to do it, and a simulator has only a few object slots.
func Open(s Settings) (*TPM, error) {
	dev := s.device()
	var (
		conn transport.TPMCloser
		err  error
	)
	if addr, ok := strings.CutPrefix(dev, "tcp://"); ok {
		conn, err = dialTCP(addr)
	} else if strings.Contains(dev, "://") {
		return nil, &Error{Setting: "tpm.device", Kind: KindConfig,
			Msg: fmt.Sprintf("must be a device path such as %s or tcp://HOST:PORT, got %q", DefaultDevice, dev)}
	} else {
		conn, err = linuxtpm.Open(dev)
		if errors.Is(err, linuxtpm.ErrFileIsNotDevice) {
			return nil, &Error{Setting: "tpm.device", Kind: KindConfig, Msg: dev + " is not a TPM device", Err: err}
		}
	}
	if err != nil {
		return nil, transportError("open "+dev, err)
	}
	t := &TPM{settings: s, conn: conn}
	if strings.HasPrefix(dev, "tcp://") {
		if err := t.startup(); err != nil {
			conn.Close()
			return nil, err
		}
		t.flushTransients()
	}
	return t, nil
}

// Close closes the connection; a resource manager flushes what it held.
func (t *TPM) Close() error {
	if t == nil || t.conn == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conn.Close()
}

// Raw is the connection, for tests and tools that set a TPM up as another
// program would. Commands sent on it bypass the TPM's lock.
func (t *TPM) Raw() transport.TPM { return t.conn }

// Settings returns the settings the TPM was opened with.
func (t *TPM) Settings() Settings { return t.settings }

func (t *TPM) startup() error {
	_, err := tpm2.Startup{StartupType: tpm2.TPMSUClear}.Execute(t.conn)
	if err == nil || errors.Is(err, tpm2.TPMRCInitialize) {
		return nil // TPM_RC_INITIALIZE: already started
	}
	return tpmError("start the TPM", "tpm.device", err)
}

func (t *TPM) flushTransients() {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(tpm2.TPMHTTransient) << 24, PropertyCount: 64}.Execute(t.conn)
	if err != nil {
		return
	}
	handles, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		return
	}
	for _, h := range handles.Handle {
		t.flush(h)
	}
}

func (t *TPM) flush(h tpm2.TPMHandle) {
	if h>>24 == tpm2.TPMHandle(tpm2.TPMHTTransient) {
		tpm2.FlushContext{FlushHandle: h}.Execute(t.conn) //nolint:errcheck // best effort: the slot is reused or freed by the resource manager
	}
}

// tcpTPM speaks raw TPM commands over TCP, as swtpm's --server port does.
// A connection that failed is dialled again for the next command, so that
// a daemon sharing one TPM for its lifetime survives a simulator restart.
type tcpTPM struct {
	addr string
	conn net.Conn // nil after a failure
}

// commandTimeout bounds one command: an RSA key generation on a slow TPM
// takes seconds, a dead peer must not hang the daemon.
const commandTimeout = 2 * time.Minute

func dialTCP(addr string) (transport.TPMCloser, error) {
	t := &tcpTPM{addr: addr}
	if err := t.dial(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tcpTPM) dial() error {
	conn, err := net.DialTimeout("tcp", t.addr, 10*time.Second)
	if err != nil {
		return err
	}
	t.conn = conn
	return nil
}

func (t *tcpTPM) Send(cmd []byte) ([]byte, error) {
	if t.conn == nil {
		if err := t.dial(); err != nil {
			return nil, err
		}
	}
	rsp, err := t.exchange(cmd)
	if err != nil {
		t.conn.Close()
		t.conn = nil
	}
	return rsp, err
}

func (t *tcpTPM) exchange(cmd []byte) ([]byte, error) {
	if err := t.conn.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, err
	}
	if _, err := t.conn.Write(cmd); err != nil {
		return nil, err
	}
	// Response header: tag (2), size (4), response code (4).
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(t.conn, hdr); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > 1<<20 {
		return nil, fmt.Errorf("the TPM sent a malformed response (size %d)", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(t.conn, rsp[10:]); err != nil {
		return nil, err
	}
	return rsp, nil
}

func (t *tcpTPM) Close() error {
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}

// retried runs a TPM command again when the TPM asks for it (TPM_RC_RETRY,
// TPM_RC_YIELDED; some TPMs answer so for a first use after start-up or
// for an unlucky random value), a few times, briefly. A TPM that keeps
// asking returns the error, which is transient.
func retried(cmd func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = cmd()
		if !errors.Is(err, tpm2.TPMRCRetry) && !errors.Is(err, tpm2.TPMRCYielded) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return err
}
