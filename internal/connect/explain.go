package connect

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/proxy"
)

// Explain maps an error from a claim session (dial, CONNECT, subscribe or
// a call) to the step that failed and check's words for it. Use
// ExplainIdentity for a proving connect with a device identity.
func Explain(err error) Finding {
	if f, ok := explainNetwork(err); ok {
		return f
	}
	if code, ok := connackCode(err); ok {
		return Finding{Check: StepMQTT,
			Message: fmt.Sprintf("the endpoint refused CONNECT with the claim: %s (CONNACK %d)", packets.ConnackReturnCodes[code], code),
			Fix:     FixClaimCert + ", and a claim policy that allows iot:Connect for this client ID"}
	}
	if errors.Is(err, fleet.ErrSubscriptionRefused) {
		return Finding{Check: StepMQTT, Message: "the claim policy does not allow the response topics: " + err.Error(),
			Fix: "allow iot:Subscribe and iot:Receive on the template's and the certificate operation's response topics in the claim's policy"}
	}
	var rej *fleet.RejectedError
	if errors.As(err, &rej) {
		return Finding{Check: StepMQTT, Message: rej.Error(),
			Fix: "see the error code: the template, its parameters or its pre-provisioning hook refused the device"}
	}
	var opt *fleet.OptionsError
	if errors.As(err, &opt) {
		return Finding{Check: StepConfig, Message: opt.Error(), Fix: "correct the setting named above"}
	}
	var inv *fleet.InvalidAnswerError
	if fleet.Classify(err) == fleet.KindPermanent && !errors.As(err, &inv) {
		// What is left of fleet's permanent errors: a TLS alert refusing our certificate.
		return Finding{Check: StepMQTT, Message: "the endpoint refused the claim certificate (" + err.Error() + ")", Fix: FixClaimCert}
	}
	if ClosedByPeer(err) {
		return Finding{Check: StepMQTT, Message: "the endpoint closed the connection (" + err.Error() + "): it refused the claim certificate or its CONNECT",
			Fix: FixClaimCert}
	}
	return Finding{Check: StepMQTT, Message: err.Error(), Fix: fixUnknown}
}

// ExplainIdentity is Explain for a proving connect with the device's own
// certificate: a refusal means the identity was revoked, made inactive or deleted.
func ExplainIdentity(err error) Finding {
	if f, ok := explainNetwork(err); ok {
		return f
	}
	if _, ok := connackCode(err); ok || fleet.Classify(err) == fleet.KindPermanent {
		return Finding{Check: StepIdentity,
			Message: "the endpoint refused the device certificate: it was revoked, made inactive or deleted (" + err.Error() + ")",
			Fix:     "activate the certificate again, or ask for a new identity with provisiond reprovision"}
	}
	return Finding{Check: StepIdentity, Message: err.Error(), Fix: fixUnknown}
}

// explainNetwork covers the steps before MQTT: clock, DNS, TCP, the proxy and TLS.
func explainNetwork(err error) (Finding, bool) {
	var perr *proxy.Error
	if errors.As(err, &perr) {
		return explainProxy(perr), true
	}
	var ce *fleet.ClockError
	if errors.As(err, &ce) {
		return Finding{Check: StepClock, Message: ce.Error(), Fix: FixClock}, true
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return Finding{Check: StepClock,
			Message: "the server certificate is not valid at the local clock: " + inv.Error(), Fix: FixClock}, true
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return Finding{Check: StepTLS,
			Message: "server certificate not trusted by root_ca: the server's chain does not lead to root_ca (the server sent a certificate issued by " + issuerOf(err, ua.Cert) + ")",
			Fix:     FixRootCA}, true
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return Finding{Check: StepTLS, Message: "server certificate is not for this endpoint: " + he.Error(),
			Fix: "set endpoint to the name the server certificate is for (the -ats endpoint of the account)"}, true
	}
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return Finding{Check: StepTLS, Message: "server certificate not trusted by root_ca: " + verr.Err.Error(), Fix: FixRootCA}, true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return Finding{Check: StepDNS, Message: "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err,
			Fix: "check endpoint's host name and the device's DNS servers (/etc/resolv.conf), or set a proxy that resolves it"}, true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		msg := "cannot connect to " + addrOf(op) + ": " + op.Err.Error()
		if errors.Is(err, syscall.ECONNREFUSED) {
			msg = "nothing listening at " + addrOf(op) + " (connection refused)"
		}
		return Finding{Check: StepTCP, Message: msg, Fix: fixEndpoint}, true
	}
	return Finding{}, false
}

func explainProxy(e *proxy.Error) Finding {
	switch {
	case e.CredentialsRefused():
		return Finding{Check: StepTCP, Message: "proxy refused the credentials: " + e.Error(), Fix: fixProxyAuth}
	case e.StatusCode != 0:
		return Finding{Check: StepTCP, Message: "proxy refused the tunnel: " + e.Error(),
			Fix: "ask the proxy's administrator to allow CONNECT to the endpoint's port (8883 or 443)"}
	}
	var cve *tls.CertificateVerificationError
	if errors.As(e.Err, &cve) {
		return Finding{Check: StepTCP, Message: "the https proxy's certificate is not trusted: " + e.Error(),
			Fix: "set proxy_ca to the CA of the proxy's certificate"}
	}
	return Finding{Check: StepTCP, Message: "cannot reach the proxy: " + e.Error(),
		Fix: "check the proxy's host and port in proxy (or HTTPS_PROXY), or set NO_PROXY for the endpoint"}
}

func addrOf(op *net.OpError) string {
	if op.Addr != nil {
		return op.Addr.String()
	}
	return "the endpoint"
}

// issuerOf names the issuer of the last certificate the server sent: the
// one whose issuer root_ca should hold.
func issuerOf(err error, leaf *x509.Certificate) string {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) && len(verr.UnverifiedCertificates) > 0 {
		return verr.UnverifiedCertificates[len(verr.UnverifiedCertificates)-1].Issuer.String()
	}
	if leaf != nil {
		return leaf.Issuer.String()
	}
	return "an unknown issuer"
}

// connackCode finds a CONNACK refusal in err.
func connackCode(err error) (byte, bool) {
	for code, e := range packets.ConnErrors {
		// Above 5 are paho's own codes (a network error, a protocol
		// violation), not a CONNACK the endpoint sent.
		if code != packets.Accepted && code <= packets.ErrRefusedNotAuthorised && e != nil && errors.Is(err, e) {
			return code, true
		}
	}
	var ce *ConnackError
	if errors.As(err, &ce) {
		return ce.Code, true
	}
	return 0, false
}

// ConnackError is a CONNACK refusal read by a caller that speaks MQTT
// itself (check's CONNECT).
type ConnackError struct{ Code byte }

func (e *ConnackError) Error() string {
	return fmt.Sprintf("CONNACK %d: %s", e.Code, packets.ConnackReturnCodes[e.Code])
}

// ClosedByPeer reports an end of stream: the server closed the connection.
func ClosedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
