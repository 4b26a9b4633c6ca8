package fleet

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and client certificates.
type testPKI struct {
	caKey  *ecdsa.PrivateKey
	ca     *x509.Certificate
	pool   *x509.CertPool
	server tls.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{caKey: testKey(t)}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, p.caKey.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.server = p.issue(t, testKey(t), "127.0.0.1", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	return p
}

// issue signs a leaf for key; host, if set, becomes an IP or DNS SAN.
func (p *testPKI) issue(t testing.TB, key *ecdsa.PrivateKey, host string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: n,
		Subject:      pkix.Name{CommonName: "leaf"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else if host != "" {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// signPEM issues a certificate for pub and returns its PEM and id, as the service would.
func (p *testPKI) signPEM(t testing.TB, pub crypto.PublicKey) (string, string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, pub, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), hex.EncodeToString(sum[:])
}

// reply is one message the responder publishes.
type reply struct {
	kind    TopicKind
	payload []byte
	topic   string // overrides the computed topic when set
}

// responder answers one request; disconnect drops the device's connection instead.
type responder func(req Topic, payload []byte) (replies []reply, disconnect bool)

// testBroker is a mochi-mqtt broker with mutual TLS and a scripted responder.
type testBroker struct {
	srv  *mochi.Server
	addr string

	mu       sync.Mutex
	respond  responder
	requests []Topic
	// allow decides CONNECT by the client certificate; nil allows all.
	allow func(*x509.Certificate) bool
}

// authHook lets every subscription and publish through, and CONNECT as allow says.
type authHook struct {
	mochi.HookBase
	b *testBroker
}

func (h *authHook) ID() string { return "test-auth" }
func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }
func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	h.b.mu.Lock()
	allow := h.b.allow
	h.b.mu.Unlock()
	if allow == nil {
		return true
	}
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return false
	}
	certs := tc.ConnectionState().PeerCertificates
	return len(certs) > 0 && allow(certs[0])
}

type responderHook struct {
	mochi.HookBase
	b *testBroker
}

func (h *responderHook) ID() string { return "responder" }
func (h *responderHook) Provides(b byte) bool {
	return b == mochi.OnPublished
}

func (h *responderHook) OnPublished(cl *mochi.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	t, err := ParseTopic(pk.TopicName)
	if err != nil || t.Kind != TopicRequest {
		return
	}
	h.b.mu.Lock()
	h.b.requests = append(h.b.requests, t)
	respond := h.b.respond
	h.b.mu.Unlock()
	replies, disconnect := respond(t, bytes.Clone(pk.Payload))
	if disconnect {
		cl.Stop(packets.ErrServerShuttingDown)
		return
	}
	for _, r := range replies {
		topic := r.topic
		if topic == "" {
			topic = Topic{Operation: t.Operation, Template: t.Template, Format: t.Format, Kind: r.kind}.String()
		}
		// Answer from another goroutine, as a real service does, so the hook never blocks the reader.
		go func() { _ = h.b.srv.Publish(topic, r.payload, false, 1) }()
	}
}

func startTestBroker(t testing.TB, p *testPKI, respond responder) *testBroker {
	t.Helper()
	return startTestBrokerWith(t, p, p.server, respond)
}

// startTestBrokerWith serves with a given server certificate (e.g. an expired one).
func startTestBrokerWith(t testing.TB, p *testPKI, server tls.Certificate, respond responder) *testBroker {
	t.Helper()
	b := &testBroker{respond: respond}
	b.srv = mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := b.srv.AddHook(&authHook{b: b}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.AddHook(&responderHook{b: b}, nil); err != nil {
		t.Fatal(err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "tls", Address: "127.0.0.1:0", TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	}})
	if err := b.srv.AddListener(ln); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Serve(); err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Address()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

func (b *testBroker) setResponder(r responder) {
	b.mu.Lock()
	b.respond = r
	b.mu.Unlock()
}

func (b *testBroker) requestCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.requests)
}

func (b *testBroker) setAllow(allow func(*x509.Certificate) bool) {
	b.mu.Lock()
	b.allow = allow
	b.mu.Unlock()
}
