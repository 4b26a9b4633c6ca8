package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Limits and defaults from the AWS IoT Core quotas.
const (
	MaxClientIDLen         = 128
	MinKeepAlive           = 30 * time.Second
	MaxKeepAlive           = 1200 * time.Second
	DefaultKeepAlive       = 60 * time.Second
	DefaultConnectTimeout  = 10 * time.Second
	DefaultResponseTimeout = 30 * time.Second
	// DefaultPort is the mutual-TLS MQTT port; 443 is the ALPN alternative.
	DefaultPort = "8883"
	// ALPNProtocol is what AWS IoT Core expects for MQTT with client certificates on port 443.
	ALPNProtocol = "x-amzn-mqtt-ca"
)

// classicalCurves are the key exchanges AWS IoT Core has long offered;
// X25519 first, the faster on the ARM cores gateways use.
var classicalCurves = []tls.CurveID{tls.X25519, tls.CurveP256}

// settings are Options checked and completed with defaults.
type settings struct {
	Options
	host, port string
}

// ClampKeepAlive applies the service's keepalive range: zero means the default,
// shorter values become 30s (as the service itself does) and longer ones 1200s.
func ClampKeepAlive(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultKeepAlive
	case d < MinKeepAlive:
		return MinKeepAlive
	case d > MaxKeepAlive:
		return MaxKeepAlive
	}
	return d
}

func (o Options) settle() (settings, error) {
	s, err := o.settleEndpoint()
	if err != nil {
		return s, err
	}
	if o.RootCAs == nil {
		return s, &OptionsError{Field: "RootCAs", Reason: "no root certificates to verify the server with"}
	}
	if len(o.Certificate.Certificate) == 0 || o.Certificate.PrivateKey == nil {
		return s, &OptionsError{Field: "Certificate", Reason: "no client certificate and key"}
	}
	if o.ClientID == "" {
		return s, &OptionsError{Field: "ClientID", Reason: "empty"}
	}
	if len(o.ClientID) > MaxClientIDLen {
		return s, &OptionsError{Field: "ClientID", Reason: "is " + strconv.Itoa(len(o.ClientID)) + " bytes, the limit is " + strconv.Itoa(MaxClientIDLen)}
	}
	switch o.Format {
	case JSON, CBOR:
	case "":
		s.Format = JSON
	default:
		return s, &OptionsError{Field: "Format", Reason: "unknown payload format " + strconv.Quote(string(o.Format))}
	}
	if err := checkCalls(o.Calls, o.Template); err != nil {
		return s, err
	}
	s.KeepAlive = ClampKeepAlive(o.KeepAlive)
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.ResponseTimeout <= 0 {
		s.ResponseTimeout = DefaultResponseTimeout
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	return s, nil
}

// checkCalls refuses an unknown operation, and RegisterThing without a valid template.
func checkCalls(calls []Operation, template string) error {
	for _, op := range calls {
		switch op {
		case OpCreateKeys, OpCreateFromCSR:
		case OpRegisterThing:
			if err := ValidateTemplateName(template); err != nil {
				return &OptionsError{Field: "Template", Reason: err.Error()}
			}
		default:
			return &OptionsError{Field: "Calls", Reason: "unknown operation " + strconv.Quote(string(op))}
		}
	}
	return nil
}

// settleEndpoint checks and splits the endpoint: all a connection opened
// ahead of its certificate needs.
func (o Options) settleEndpoint() (settings, error) {
	s := settings{Options: o}
	if o.Endpoint == "" {
		return s, &OptionsError{Field: "Endpoint", Reason: "empty"}
	}
	host, port, err := net.SplitHostPort(o.Endpoint)
	if err != nil {
		// A bare host name means the default port.
		host, port = o.Endpoint, DefaultPort
		if _, _, err2 := net.SplitHostPort(net.JoinHostPort(host, port)); err2 != nil {
			return s, &OptionsError{Field: "Endpoint", Reason: "not host[:port]: " + err.Error()}
		}
	}
	if host == "" {
		return s, &OptionsError{Field: "Endpoint", Reason: "no host in " + strconv.Quote(o.Endpoint)}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return s, &OptionsError{Field: "Endpoint", Reason: "bad port " + strconv.Quote(port)}
	}
	s.host, s.port = host, port
	return s, nil
}

// TLSConfig is the TLS configuration a connection with these options
// makes, for a caller that runs the handshake itself over a connection of
// its own (check --online).
func (o Options) TLSConfig() (*tls.Config, error) {
	s, err := o.settleEndpoint()
	if err != nil {
		return nil, err
	}
	return s.tlsConfig(), nil
}

// tlsConfig verifies the server against RootCAs with SNI, and offers ALPN on port 443
// (or always, if asked).
func (s settings) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{s.Certificate},
		RootCAs:      s.RootCAs,
		ServerName:   s.host,
		// TLS 1.3 (Go's default maximum, offered first) takes one round
		// trip; 1.2 stays for endpoints that lack 1.3.
		MinVersion: tls.VersionTLS12,
		Time:       s.Now,
	}
	// A key that cannot sign for TLS 1.3 (an RSA key in a PKCS#11 token
	// without RSA-PSS, see p11key.Key) says so.
	if k, ok := s.Certificate.PrivateKey.(interface{ MaxTLSVersion() uint16 }); ok {
		cfg.MaxVersion = k.MaxTLSVersion()
	}
	if s.port == "443" || s.AlwaysALPN {
		cfg.NextProtos = []string{ALPNProtocol}
	}
	if s.ClassicalKeyExchange {
		cfg.CurvePreferences = classicalCurves
	}
	return cfg
}

// now reads the device's clock.
func (s settings) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// leaf is our certificate, parsed; nil if it does not parse.
func (s settings) leaf() *x509.Certificate {
	if s.Certificate.Leaf != nil {
		return s.Certificate.Leaf
	}
	if len(s.Certificate.Certificate) == 0 {
		return nil
	}
	cert, err := x509.ParseCertificate(s.Certificate.Certificate[0])
	if err != nil {
		return nil
	}
	return cert
}
