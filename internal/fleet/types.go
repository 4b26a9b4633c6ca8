package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	"go.uber.org/zap"
)

// Format is the payload format segment of a topic.
type Format string

// Payload formats accepted by the service.
const (
	JSON Format = "json"
	CBOR Format = "cbor"
)

// Operation names one of the three API calls.
type Operation string

// The three operations of the Fleet Provisioning MQTT API.
const (
	OpCreateKeys    Operation = "CreateKeysAndCertificate"
	OpCreateFromCSR Operation = "CreateCertificateFromCsr"
	OpRegisterThing Operation = "RegisterThing"
)

// Options configure one MQTT connection to the endpoint.
type Options struct {
	// Endpoint is host:port. Port 443 selects ALPN x-amzn-mqtt-ca.
	Endpoint string
	// AlwaysALPN offers ALPN x-amzn-mqtt-ca on any port, as AWS's SDKs do.
	AlwaysALPN bool
	// RootCAs verifies the server; it is never skipped.
	RootCAs *x509.CertPool
	// Certificate is the client certificate (the claim, or a device identity).
	Certificate tls.Certificate
	// ClientID is at most 128 bytes.
	ClientID string
	// Format selects JSON or CBOR payloads.
	Format Format
	// KeepAlive is clamped to 30s..1200s; zero means 60s.
	KeepAlive time.Duration
	// ConnectTimeout bounds the TLS handshake and CONNECT; zero means 10s.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds each call when its context has no earlier deadline; zero means 30s.
	ResponseTimeout time.Duration
	// ClassicalKeyExchange offers only X25519 and P-256, not Go's default
	// hybrid post-quantum X25519MLKEM768. It suits a session that carries no
	// long-lived secret (a CSR session: the ownership token lives an hour;
	// a proving connection): each handshake is spared an ML-KEM key, 0.07 ms
	// on a server CPU and several times that on a gateway's. A session that
	// receives a private key (CreateKeysAndCertificate) should keep the
	// default, so that a recording of it cannot be decrypted later.
	ClassicalKeyExchange bool
	// Calls names the calls the session will make (Template names the
	// template of RegisterThing): Dial sends one SUBSCRIBE for all their
	// response topics right behind CONNACK, so that no call pays a round
	// trip of its own for it. Calls not named subscribe when first made.
	Calls    []Operation
	Template string
	// Logger may be nil.
	Logger *zap.Logger
	// DialContext opens the TCP connection under TLS (through a proxy, say);
	// nil dials directly.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the device's clock, by which the server's certificate and a
	// refusal of ours as expired are judged; nil is time.Now.
	Now func() time.Time
	// HandshakeDone, when set, is called as the TLS handshake completes,
	// before CONNECT (a load generator times the stages of a dial with it).
	HandshakeDone func()
}

// Issued is a validated answer to CreateKeysAndCertificate or CreateCertificateFromCsr.
type Issued struct {
	CertificateID  string
	CertificatePEM []byte
	Certificate    *x509.Certificate
	// PrivateKeyPEM is set only by CreateKeysAndCertificate. It is a secret.
	PrivateKeyPEM  []byte
	OwnershipToken string
}

// Registration is a validated answer to RegisterThing.
type Registration struct {
	ThingName           string
	DeviceConfiguration map[string]string
}
