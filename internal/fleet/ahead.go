package fleet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
)

// Ahead is a TCP connection to the endpoint opened before the certificate
// that will use it exists: the proving connection's TCP handshake (and DNS
// lookup) runs while RegisterThing is in flight, and only TLS and CONNECT
// remain once the thing is registered. Session resumption cannot save the
// TLS round trip instead: the proving connection presents a certificate the
// endpoint has never seen.
//
// Exactly one of Prove or Close must be called; both may be called, and
// Close more than once.
type Ahead struct {
	s      settings
	cancel context.CancelFunc
	done   chan struct{} // closed when the dial ended
	conn   net.Conn
	err    error

	mu    sync.Mutex
	taken bool
}

// DialAhead starts opening a TCP connection to opts.Endpoint and returns at
// once; only the endpoint (and the way to reach it) of opts is used. ctx
// bounds the dial; the connection, once open, waits for Prove or Close.
func DialAhead(ctx context.Context, opts Options) *Ahead {
	a := &Ahead{done: make(chan struct{})}
	s, err := opts.settleEndpoint()
	if err != nil {
		a.err = err
		close(a.done)
		return a
	}
	a.s = s
	dctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	go func() {
		defer close(a.done)
		a.conn, a.err = s.dialTCP(dctx)
	}()
	return a
}

// errAheadTaken is a second Prove, or a Prove after Close.
var errAheadTaken = errors.New("the connection opened ahead was already used or closed")

// take hands the open connection to one user: nil if the dial failed or
// Close came first.
func (a *Ahead) take(ctx context.Context) (net.Conn, error) {
	select {
	case <-a.done:
	case <-ctx.Done():
		a.Close()
		return nil, ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.taken {
		return nil, errAheadTaken
	}
	a.taken = true
	return a.conn, a.err
}

// Prove connects once with opts.Certificate over the connection opened
// ahead (TLS and CONNECT only), and returns nil if the endpoint accepted
// the CONNECT, then disconnects, as the package's Prove does. If that
// connection could not be opened or died while it waited (a server ends
// idle handshakes), Prove dials afresh once: the head start is an
// optimisation, never a new way to fail.
func (a *Ahead) Prove(ctx context.Context, opts Options) error {
	s, err := opts.settle()
	if err != nil {
		a.Close()
		return err
	}
	if a.s.Endpoint != "" && s.Endpoint != a.s.Endpoint {
		a.Close()
		return &OptionsError{Field: "Endpoint", Reason: fmt.Sprintf("%q is not the endpoint dialled ahead (%q)", s.Endpoint, a.s.Endpoint)}
	}
	conn, err := a.take(ctx)
	if err == nil {
		used := false
		c, derr := dial(ctx, s, func(context.Context) (net.Conn, error) {
			if used {
				return nil, errors.New("the connection opened ahead was used")
			}
			used = true
			return conn, nil
		})
		if derr == nil {
			return c.Close()
		}
		_ = conn.Close()
		if !worthRedial(ctx, derr) {
			return fmt.Errorf("prove the new certificate: %w", derr)
		}
		s.Logger.Debug("the connection opened ahead failed: dialling afresh")
	} else if ctx.Err() != nil || errors.Is(err, errAheadTaken) {
		return fmt.Errorf("prove the new certificate: %w", err)
	}
	return Prove(ctx, opts)
}

// worthRedial says whether a failure over the connection opened ahead may
// be the connection's age rather than the certificate: a network error,
// not a verdict of TLS or of the broker.
func worthRedial(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var clock *ClockError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &clock) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return false // a TLS alert: the endpoint's verdict
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Close stops the dial, or closes the connection if Prove did not take it.
func (a *Ahead) Close() {
	if a.cancel != nil {
		a.cancel()
	}
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.taken && a.conn != nil {
		_ = a.conn.Close()
	}
	a.taken = true
}
