package fleetsim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/fxamacker/cbor/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/clock"
)

const waitFor = 10 * time.Second

// fakeClock is a clock tests move by hand (Advance), set to the real time
// so that the certificates Init made are valid at it.
func fakeClock() *clock.Fake {
	c := clock.NewFake(false)
	c.Jump(time.Since(c.Now()))
	return c
}

// logged is a test logger for the emulator and a channel receiving each
// message it logs, so that a test waits on what the emulator did instead of
// polling for it.
func logged(t testing.TB) (*zap.Logger, <-chan string) {
	msgs := make(chan string, 1000)
	return zaptest.NewLogger(t).WithOptions(zap.Hooks(func(e zapcore.Entry) error {
		select {
		case msgs <- e.Message:
		default: // a test that logs this much waits on nothing
		}
		return nil
	})), msgs
}

// waitLogged waits until the emulator logs want.
func waitLogged(t testing.TB, msgs <-chan string, want string) {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case m := <-msgs:
			if m == want {
				return
			}
		case <-timeout:
			t.Fatalf("the emulator never logged %q", want)
		}
	}
}

// newDir runs Init in a temporary folder.
func newDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := Init(dir, InitOptions{}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return dir
}

// start serves dir on 127.0.0.1:0; edit adjusts the options.
func start(t testing.TB, dir string, edit func(*Options)) *Server {
	t.Helper()
	opts := Options{Dir: dir, Listen: "127.0.0.1:0", Logger: zaptest.NewLogger(t)}
	if edit != nil {
		edit(&opts)
	}
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clientTLS loads a client certificate from dir and trusts the emulator's CA.
func clientTLS(t testing.TB, dir, certFile, keyFile string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatalf("load client certificate: %v", err)
	}
	return tlsWith(t, dir, cert)
}

func tlsWith(t testing.TB, dir string, cert tls.Certificate) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "localhost"}
}

// dial connects a paho client; it fails the test if CONNECT is refused.
func dial(t testing.TB, addr string, cfg *tls.Config, clientID string) paho.Client {
	t.Helper()
	c, err := tryDial(addr, cfg, clientID, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func tryDial(addr string, cfg *tls.Config, clientID string, edit func(*paho.ClientOptions)) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(clientID).SetTLSConfig(cfg).
		SetAutoReconnect(false).SetConnectTimeout(waitFor).SetKeepAlive(60 * time.Second).
		SetUsername("?SDK=Go&Version=test")
	if edit != nil {
		edit(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, context.DeadlineExceeded
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

// dialWatched connects like dial, and returns the channel on which the client reports
// that the server ended its connection.
func dialWatched(t testing.TB, addr string, cfg *tls.Config, clientID string) (paho.Client, <-chan error) {
	t.Helper()
	lost := make(chan error, 1)
	c, err := tryDial(addr, cfg, clientID, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, lost
}

// wantLost fails the test with failure unless lost reports the end of the connection.
func wantLost(t testing.TB, lost <-chan error, failure string) {
	t.Helper()
	select {
	case <-lost:
	case <-time.After(waitFor):
		t.Fatal(failure)
	}
}

// closePromptly closes s; the test fails unless Close returns nil within limit.
func closePromptly(t testing.TB, s *Server, limit time.Duration, failure string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(limit):
		t.Fatal(failure)
	}
}

func claimTLS(t testing.TB, dir string) *tls.Config {
	return clientTLS(t, dir, "claim.pem.crt", "claim.pem.key")
}

// message is one received publish.
type message struct {
	topic   string
	payload []byte
}

// subscribe subscribes to filter and returns the channel of messages.
func subscribe(t testing.TB, c paho.Client, filter string) chan message {
	t.Helper()
	ch := make(chan message, 16)
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		ch <- message{m.Topic(), append([]byte(nil), m.Payload()...)}
	})
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

// call subscribes to topic/accepted and topic/rejected, publishes payload on topic and
// returns the answer.
func call(t testing.TB, c paho.Client, topic string, payload []byte) message {
	t.Helper()
	ch := subscribe(t, c, topic+"/+")
	defer c.Unsubscribe(topic + "/+")
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
	select {
	case m := <-ch:
		return m
	case <-time.After(waitFor):
		t.Fatalf("no answer on %s/+", topic)
	}
	return message{}
}

// unmarshal decodes an answer in format.
func unmarshal(t testing.TB, format string, b []byte, v any) {
	t.Helper()
	var err error
	if format == "cbor" {
		err = cbor.Unmarshal(b, v)
	} else {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("decode %s answer %q: %v", format, b, err)
	}
}

// marshal encodes a request in format.
func marshal(t testing.TB, format string, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	if format == "cbor" {
		b, err = cbor.Marshal(v)
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newCSR makes a key and a CSR for it.
func newCSR(t testing.TB) (crypto.Signer, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key, csrFor(t, key)
}

func csrFor(t testing.TB, key crypto.Signer) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pemBlock("CERTIFICATE REQUEST", der))
}

// rejection is a decoded /rejected answer.
type rejection struct {
	StatusCode   int    `json:"statusCode" cbor:"statusCode"`
	ErrorCode    string `json:"errorCode" cbor:"errorCode"`
	ErrorMessage string `json:"errorMessage" cbor:"errorMessage"`
}

func wantRejected(t testing.TB, format string, m message, status int, code string) rejection {
	t.Helper()
	if !strings.HasSuffix(m.topic, "/rejected") {
		t.Fatalf("answer on %s (%s), want a rejection %d %s", m.topic, m.payload, status, code)
	}
	var r rejection
	unmarshal(t, format, m.payload, &r)
	if r.StatusCode != status || r.ErrorCode != code || r.ErrorMessage == "" {
		t.Fatalf("rejected %d %s %q, want %d %s with a message", r.StatusCode, r.ErrorCode, r.ErrorMessage, status, code)
	}
	return r
}

func wantAccepted(t testing.TB, format string, m message, v any) {
	t.Helper()
	if !strings.HasSuffix(m.topic, "/accepted") {
		t.Fatalf("answer on %s: %s", m.topic, m.payload)
	}
	unmarshal(t, format, m.payload, v)
}

// issued is a decoded accepted answer of either create operation.
type issued struct {
	CertificateID             string `json:"certificateId" cbor:"certificateId"`
	CertificatePEM            string `json:"certificatePem" cbor:"certificatePem"`
	PrivateKey                string `json:"privateKey" cbor:"privateKey"`
	CertificateOwnershipToken string `json:"certificateOwnershipToken" cbor:"certificateOwnershipToken"`
}

type registered struct {
	DeviceConfiguration map[string]string `json:"deviceConfiguration" cbor:"deviceConfiguration"`
	ThingName           string            `json:"thingName" cbor:"thingName"`
}

// provisionCSR runs CreateCertificateFromCsr then RegisterThing for serial over c.
func provisionCSR(t testing.TB, c paho.Client, format, serial string) (crypto.Signer, issued, registered) {
	t.Helper()
	key, csr := newCSR(t)
	var iss issued
	wantAccepted(t, format, call(t, c, "$aws/certificates/create-from-csr/"+format,
		marshal(t, format, map[string]string{"certificateSigningRequest": csr})), &iss)
	var reg registered
	wantAccepted(t, format, call(t, c, "$aws/provisioning-templates/GatewayTemplate/provision/"+format,
		marshal(t, format, map[string]any{"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters": map[string]string{"SerialNumber": serial}})), &reg)
	return key, iss, reg
}

// deviceTLS is a TLS config with an issued certificate.
func deviceTLS(t testing.TB, dir string, key crypto.Signer, certPEM string) *tls.Config {
	t.Helper()
	c, err := parseCertPEM([]byte(certPEM))
	if err != nil {
		t.Fatal(err)
	}
	return tlsWith(t, dir, tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c})
}

func findCert(r Registry, id string) (Certificate, bool) {
	for _, c := range r.Certificates {
		if c.CertificateID == id {
			return c, true
		}
	}
	return Certificate{}, false
}

func findThing(r Registry, name string) (Thing, bool) {
	for _, th := range r.Things {
		if th.ThingName == name {
			return th, true
		}
	}
	return Thing{}, false
}
