package connect

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/proxy"
)

func TestExplainNamesTheStepInCheckWords(t *testing.T) {
	foreign := &x509.Certificate{Issuer: pkix.Name{CommonName: "Corporate Inspection CA"}}
	for _, tc := range []struct {
		name     string
		err      error
		identity bool
		check    string
		sentence string
	}{
		{"wrong root CA", fmt.Errorf("connect to x: %w", &tls.CertificateVerificationError{
			UnverifiedCertificates: []*x509.Certificate{foreign}, Err: x509.UnknownAuthorityError{Cert: foreign}}),
			false, StepTLS, "TLS: server certificate not trusted by root_ca: the server's chain does not lead to root_ca (the server sent a certificate issued by CN=Corporate Inspection CA)"},
		{"wrong name", x509.HostnameError{Certificate: foreign, Host: "iot.example"}, false, StepTLS, "TLS: server certificate is not for this endpoint"},
		{"dns", &net.DNSError{Name: "iot.example", Err: "no such host"}, false, StepDNS, "DNS: cannot resolve iot.example: no such host"},
		{"nothing listening", &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8883},
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false, StepTCP, "TCP: nothing listening at 127.0.0.1:8883"},
		{"proxy credentials", fmt.Errorf("connect: %w", &proxy.Error{Proxy: "http://u:***@p:3128", Addr: "x:8883", StatusCode: 407, Status: "407 Proxy Authentication Required"}),
			false, StepTCP, "TCP: proxy refused the credentials"},
		{"proxy gateway", &proxy.Error{Proxy: "http://p:3128", Addr: "x:8883", StatusCode: 502, Status: "502 Bad Gateway"}, false, StepTCP, "TCP: proxy refused the tunnel"},
		{"proxy down", &proxy.Error{Proxy: "http://p:3128", Addr: "x:8883", Err: syscall.ECONNREFUSED}, false, StepTCP, "TCP: cannot reach the proxy"},
		{"clock", &fleet.ClockError{Err: errors.New("remote error: tls: expired certificate"), Now: time.Unix(0, 0), NotBefore: time.Unix(1e9, 0)}, false, StepClock, "Clock: "},
		{"server cert at the clock", x509.CertificateInvalidError{Cert: foreign, Reason: x509.Expired}, false, StepClock, "Clock: the server certificate is not valid at the local clock"},
		{"claim refused at CONNECT", fmt.Errorf("connect: %w", packets.ErrorRefusedNotAuthorised), false, StepMQTT, "MQTT: the endpoint refused CONNECT with the claim: Connection Refused: Not Authorised (CONNACK 5)"},
		{"claim refused at TLS", &net.OpError{Op: "remote error", Err: errors.New("tls: unknown certificate authority")}, false, StepMQTT, "MQTT: the endpoint refused the claim certificate (remote error: tls: unknown certificate authority)"},
		{"claim refused at TLS, as paho reports it", fmt.Errorf("connect: %w : %w", packets.ErrorNetworkError,
			&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}), false, StepMQTT, "MQTT: the endpoint refused the claim certificate"},
		{"subscription", fmt.Errorf("%w: $aws/x", fleet.ErrSubscriptionRefused), false, StepMQTT, "MQTT: the claim policy does not allow"},
		{"rejected", &fleet.RejectedError{Operation: fleet.OpRegisterThing, StatusCode: 400, ErrorCode: "InvalidParameters"}, false, StepMQTT, "MQTT: RegisterThing rejected: 400 InvalidParameters"},
		{"identity refused", fmt.Errorf("prove: %w", packets.ErrorRefusedBadUsernameOrPassword), true, StepIdentity, "Identity: the endpoint refused the device certificate: it was revoked, made inactive or deleted"},
		{"identity, network", &net.DNSError{Name: "iot.example", Err: "no such host"}, true, StepDNS, "DNS: "},
	} {
		explain := Explain
		if tc.identity {
			explain = ExplainIdentity
		}
		f := explain(tc.err)
		if f.Check != tc.check || !strings.HasPrefix(f.String(), tc.sentence) || f.Fix == "" {
			t.Errorf("%s: %+v (%q), want %s saying %q with a fix", tc.name, f, f.String(), tc.check, tc.sentence)
		}
	}
}
