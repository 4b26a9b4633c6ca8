package fleetsim

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/provisiond/provisiond/internal/fleetsim/link"
	"go.uber.org/zap"
)

// alpnProtocol is what AWS IoT requires on port 443 to speak MQTT over mutual TLS.
const alpnProtocol = "x-amzn-mqtt-ca"

// handshakeTimeout bounds the TLS handshake and the wait for CONNECT.
const handshakeTimeout = 10 * time.Second

// maxHandshakes caps the connections accepted and not yet past the TLS handshake. Beyond
// it new connections wait in the kernel's backlog, so that a storm of half-open connections
// costs at most this many descriptors and cannot starve the process of them.
const maxHandshakes = 512

// Accept's back-off on failure, as net/http's: from 5 ms, doubling, to 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// tlsListener is a mochi listener over a socket bound before the broker starts, so that
// Start can report the real address (port 0 in tests) and fail early when it is taken.
// It does the TLS handshake itself and remembers each connection's client certificate.
type tlsListener struct {
	id     string
	ln     net.Listener
	config *tls.Config
	peers  *sync.Map // net.Conn -> *peer
	log    *zap.Logger
	// wire emulates a link and traces packets; nil for neither.
	wire *link.Wire
	// run starts a function on a goroutine of its own.
	run      func(func())
	closing  sync.Once
	accepted sync.WaitGroup
	// handshakes holds a token per connection in its TLS handshake (maxHandshakes).
	handshakes chan struct{}
	// stop is closed by Close; it ends a wait for a handshake slot or a back-off.
	stop chan struct{}

	// mu guards conns and closed: the raw connections being served, closed by Close so
	// that a connection idle in the TLS handshake or before CONNECT does not hold it up.
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newTLSListener(id string, ln net.Listener, config *tls.Config, peers *sync.Map, log *zap.Logger, run func(func()), w *link.Wire) *tlsListener {
	return &tlsListener{id: id, ln: ln, config: config, peers: peers, log: log, run: run, wire: w,
		handshakes: make(chan struct{}, maxHandshakes), stop: make(chan struct{})}
}

// peer is the verified client certificate of one TLS connection.
type peer struct {
	certID string
}

func (l *tlsListener) ID() string              { return l.id }
func (l *tlsListener) Address() string         { return l.ln.Addr().String() }
func (l *tlsListener) Protocol() string        { return "tcp" }
func (l *tlsListener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close. A failed Accept (out of descriptors, a
// connection aborted in the backlog) is logged and retried after a back-off: the
// broker keeps serving whatever the failure, and says when it accepts again.
func (l *tlsListener) Serve(establish listeners.EstablishFn) {
	var failures int
	var since time.Time
	delay := time.Duration(0)
	for {
		if !l.waitSlot() {
			return
		}
		raw, err := l.ln.Accept()
		if err != nil {
			<-l.handshakes
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures == 0 {
				since = time.Now()
				l.log.Warn("MQTT accept failed; retrying with back-off", zap.String("listener", l.id),
					zap.Error(err), zap.Int("handshakesInProgress", len(l.handshakes)))
			}
			failures++
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			if !l.sleep(delay) {
				return
			}
			continue
		}
		if failures > 0 {
			l.log.Warn("MQTT accepting again", zap.String("listener", l.id), zap.Int("failedAccepts", failures),
				zap.Duration("after", time.Since(since).Round(time.Millisecond)))
			failures, delay = 0, 0
		}
		raw, id := l.wire.Accept(raw)
		if !l.track(raw) {
			<-l.handshakes
			_ = raw.Close()
			return
		}
		l.accepted.Add(1)
		l.run(func() {
			defer l.accepted.Done()
			defer l.untrack(raw)
			l.serveConn(raw, id, establish)
		})
	}
}

// waitSlot takes a handshake slot, waiting while maxHandshakes are in progress; false
// once the listener is closed.
func (l *tlsListener) waitSlot() bool {
	select {
	case l.handshakes <- struct{}{}:
		return true
	default:
	}
	l.log.Debug("handshake cap reached; new connections wait in the backlog", zap.String("listener", l.id), zap.Int("cap", maxHandshakes))
	select {
	case l.handshakes <- struct{}{}:
		return true
	case <-l.stop:
		return false
	}
}

// sleep waits d; false if the listener is closed meanwhile.
func (l *tlsListener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stop:
		return false
	}
}

func (l *tlsListener) serveConn(raw net.Conn, id uint64, establish listeners.EstablishFn) {
	tconn := tls.Server(raw, l.config)
	conn := net.Conn(tconn)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := tconn.HandshakeContext(ctx)
	cancel()
	<-l.handshakes
	if err != nil {
		l.log.Debug("TLS handshake refused", zap.String("remote", raw.RemoteAddr().String()), zap.Error(err))
		_ = conn.Close()
		return
	}
	state := tconn.ConnectionState()
	if len(state.PeerCertificates) == 0 {
		_ = conn.Close()
		return
	}
	conn = l.wire.Watch(conn, id)
	l.peers.Store(conn, &peer{certID: certificateID(state.PeerCertificates[0].Raw)})
	defer l.peers.Delete(conn)
	// The broker replaces this deadline with the keepalive once CONNECT is accepted.
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := establish(l.id, conn); err != nil {
		l.log.Debug("connection ended", zap.String("remote", raw.RemoteAddr().String()), zap.Error(err))
	}
}

// track records a raw connection; false once the listener is closed.
func (l *tlsListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.conns == nil {
		l.conns = make(map[net.Conn]struct{})
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *tlsListener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// Close stops accepting, closes every connection (clients, and those still in
// the TLS handshake or not yet past CONNECT, which the broker does not know)
// and waits for each to be detached from the broker.
//
// It does not call the broker's closeClients: in mochi v2.7.9 that takes the
// client list's read lock twice (GetByListener calls Len), which deadlocks
// against a client being removed at the same moment, as happens when a
// device disconnects while the emulator stops. Closing the connections ends
// each client through its own read loop instead.
func (l *tlsListener) Close(listeners.CloseFn) {
	l.closing.Do(func() {
		close(l.stop)
		_ = l.ln.Close()
		l.mu.Lock()
		l.closed = true
		for c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
		l.accepted.Wait()
	})
}

// serverTLS builds the TLS configuration: mutual TLS against the emulator's CA, TLS 1.2 or
// later. With requireALPN the handshake fails unless the client offers x-amzn-mqtt-ca (the
// port 443 style); otherwise the protocol is agreed when offered and never required.
func serverTLS(cert tls.Certificate, v *clientVerifier, requireALPN bool) *tls.Config {
	base := &tls.Config{
		Certificates: []tls.Certificate{cert},
		// The chain is verified by v (against the CA, as RequireAndVerifyClientCert
		// would), which remembers certificates it has verified: a storm of devices
		// presenting the same claim costs one verification, not one per handshake.
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: v.verify,
		MinVersion:            tls.VersionTLS12,
		// Classical key exchange only, as AWS IoT offers; it also spares the hybrid
		// post-quantum exchange's cost in storms.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
	}
	if requireALPN {
		base.NextProtos = []string{alpnProtocol}
		base.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.NegotiatedProtocol != alpnProtocol {
				return fmt.Errorf("this listener requires ALPN %s", alpnProtocol)
			}
			return nil
		}
		return base
	}
	offered := base.Clone()
	offered.NextProtos = []string{alpnProtocol}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		for _, p := range hello.SupportedProtos {
			if p == alpnProtocol {
				return offered, nil
			}
		}
		return nil, nil
	}
	return base
}

// clientVerifier verifies client certificate chains against the CA and remembers the
// leaves it has verified.
type clientVerifier struct {
	roots *x509.CertPool
	now   func() time.Time
	mu    sync.RWMutex
	ok    map[[32]byte]*x509.Certificate
}

// maxVerified bounds the memory of verified certificates; it is forgotten when full.
const maxVerified = 1 << 16

func newClientVerifier(roots *x509.CertPool, now func() time.Time) *clientVerifier {
	return &clientVerifier{roots: roots, now: now, ok: make(map[[32]byte]*x509.Certificate)}
}

func (v *clientVerifier) verify(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		return errors.New("no client certificate")
	}
	key := sha256.Sum256(raw[0])
	now := v.now()
	v.mu.RLock()
	leaf := v.ok[key]
	v.mu.RUnlock()
	if leaf != nil {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return fmt.Errorf("client certificate is not valid at %s", now.UTC().Format(time.RFC3339))
		}
		return nil
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	v.mu.Lock()
	if len(v.ok) >= maxVerified {
		clear(v.ok)
	}
	v.ok[key] = certs[0]
	v.mu.Unlock()
	return nil
}

// errNoPeer is a connection that reached CONNECT without a recorded client certificate.
var errNoPeer = errors.New("no client certificate on this connection")
