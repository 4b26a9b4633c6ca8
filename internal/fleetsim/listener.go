package fleetsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"go.uber.org/zap"
)

// alpnProtocol is what AWS IoT requires on port 443 to speak MQTT over mutual TLS.
const alpnProtocol = "x-amzn-mqtt-ca"

// handshakeTimeout bounds the TLS handshake and the wait for CONNECT.
const handshakeTimeout = 10 * time.Second

// tlsListener is a mochi listener over a socket bound before the broker starts, so that
// Start can report the real address (port 0 in tests) and fail early when it is taken.
// It does the TLS handshake itself and remembers each connection's client certificate.
type tlsListener struct {
	id       string
	ln       net.Listener
	config   *tls.Config
	peers    *sync.Map // net.Conn -> *peer
	log      *zap.Logger
	closing  sync.Once
	accepted sync.WaitGroup
}

// peer is the verified client certificate of one TLS connection.
type peer struct {
	certID string
	cert   *x509.Certificate
}

func (l *tlsListener) ID() string              { return l.id }
func (l *tlsListener) Address() string         { return l.ln.Addr().String() }
func (l *tlsListener) Protocol() string        { return "tcp" }
func (l *tlsListener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close.
func (l *tlsListener) Serve(establish listeners.EstablishFn) {
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.accepted.Add(1)
		go func() {
			defer l.accepted.Done()
			l.serveConn(raw, establish)
		}()
	}
}

func (l *tlsListener) serveConn(raw net.Conn, establish listeners.EstablishFn) {
	conn := tls.Server(raw, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.log.Debug("TLS handshake refused", zap.String("remote", raw.RemoteAddr().String()), zap.Error(err))
		_ = conn.Close()
		return
	}
	state := conn.ConnectionState()
	if len(state.PeerCertificates) == 0 {
		_ = conn.Close()
		return
	}
	leaf := state.PeerCertificates[0]
	l.peers.Store(conn, &peer{certID: certificateID(leaf.Raw), cert: leaf})
	defer l.peers.Delete(conn)
	// The broker replaces this deadline with the keepalive once CONNECT is accepted.
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := establish(l.id, conn); err != nil {
		l.log.Debug("connection ended", zap.String("remote", raw.RemoteAddr().String()), zap.Error(err))
	}
}

// Close stops accepting; the broker closes the clients through closeClients.
func (l *tlsListener) Close(closeClients listeners.CloseFn) {
	l.closing.Do(func() {
		_ = l.ln.Close()
		closeClients(l.id)
	})
}

// serverTLS builds the TLS configuration: mutual TLS against the emulator's CA, TLS 1.2 or
// later. With requireALPN the handshake fails unless the client offers x-amzn-mqtt-ca (the
// port 443 style); otherwise the protocol is agreed when offered and never required.
func serverTLS(cert tls.Certificate, roots *x509.CertPool, requireALPN bool) *tls.Config {
	base := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		MinVersion:   tls.VersionTLS12,
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

// errNoPeer is a connection that reached CONNECT without a recorded client certificate.
var errNoPeer = errors.New("no client certificate on this connection")
