package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ErrorCodeInvalidToken is the errorCode AWS sends when the ownership token is refused.
const ErrorCodeInvalidToken = "InvalidCertificateOwnershipToken"

// tlsAlertCertificateExpired is the TLS alert (RFC 8446 section 6.2) a server sends
// when our certificate is outside its validity at the server's clock.
const tlsAlertCertificateExpired = "tls: expired certificate"

// certificateAlerts are the TLS alerts by which a server refuses our
// certificate: retrying the same certificate will not help. Other alerts
// (internal error, handshake failure, …) may pass.
var certificateAlerts = map[string]bool{
	"tls: bad certificate":                 true,
	"tls: unsupported certificate":         true,
	"tls: revoked certificate":             true,
	tlsAlertCertificateExpired:             true,
	"tls: unknown certificate":             true,
	"tls: unknown certificate authority":   true,
	"tls: access denied":                   true,
	"tls: certificate required":            true,
	"tls: bad certificate status response": true,
}

// ClockError is a server's refusal of our certificate as expired while the
// local clock is before the certificate's NotBefore: the local clock, not
// the certificate, is implausible. Dial returns it; Classify makes it
// KindClock.
type ClockError struct {
	Err       error
	Now       time.Time
	NotBefore time.Time
}

func (e *ClockError) Error() string {
	return fmt.Sprintf("%v (the local clock, %s, is before our certificate's start, %s)",
		e.Err, e.Now.UTC().Format(time.RFC3339), e.NotBefore.UTC().Format(time.RFC3339))
}

func (e *ClockError) Unwrap() error { return e.Err }

// judgeExpiredAlert turns a server's "expired certificate" alert into a
// *ClockError when now is before cert's NotBefore. Otherwise the server's
// verdict stands: our clock is plausible, so the certificate is expired
// (or the server's clock is wrong), and waiting for our clock will not help.
func judgeExpiredAlert(err error, cert *x509.Certificate, now time.Time) error {
	if err == nil || cert == nil || alertText(err) != tlsAlertCertificateExpired {
		return err
	}
	if now.Before(cert.NotBefore) {
		return &ClockError{Err: err, Now: now, NotBefore: cert.NotBefore}
	}
	return fmt.Errorf("%w (our certificate is valid until %s)", err, cert.NotAfter.UTC().Format(time.RFC3339))
}

// alertText returns the text of a TLS alert the peer sent, or "".
func alertText(err error) string {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return alert.Error()
	}
	// crypto/tls reports a peer's alert as a *net.OpError "remote error" around an
	// unexported alert type, whose text is fixed by the RFC name of the alert.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return op.Err.Error()
	}
	return ""
}

// Classify says how the caller should react to err:
//   - KindInvalidToken: a rejection with errorCode InvalidCertificateOwnershipToken, or a
//     4xx whose message is about the ownership token;
//   - KindClock: the server's certificate is expired or not yet valid at our
//     clock, or a *ClockError (the server found ours expired while our clock is
//     before its NotBefore);
//   - KindTransient: timeouts, connection loss, ErrRedial, network errors, 429 and 5xx, a
//     CONNACK "server unavailable", and any error it does not recognise;
//   - KindPermanent: other rejections, invalid answers, bad options, other TLS
//     verification failures, a server's TLS alert refusing our certificate
//     (bad, unknown, revoked, expired at a plausible clock, …) and CONNACK
//     refusals. Other TLS alerts are transient.
//
// Classify(nil) is KindTransient; callers should not ask.
func Classify(err error) Kind {
	if err == nil {
		return KindTransient
	}
	var rej *RejectedError
	if errors.As(err, &rej) {
		return classifyRejected(rej)
	}
	if errors.Is(err, ErrEmptyToken) {
		return KindInvalidToken
	}
	if isClockError(err) {
		return KindClock
	}
	var inv *InvalidAnswerError
	var opt *OptionsError
	switch {
	case errors.As(err, &inv), errors.As(err, &opt):
		return KindPermanent
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrConnectionLost), errors.Is(err, ErrClosed),
		errors.Is(err, ErrRedial),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return KindTransient
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return KindTransient
	case errors.Is(err, packets.ErrorRefusedNotAuthorised),
		errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword),
		errors.Is(err, packets.ErrorRefusedIDRejected),
		errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return KindPermanent
	case errors.Is(err, ErrSubscriptionRefused):
		return KindPermanent
	}
	if isTLSVerificationError(err) {
		return KindPermanent
	}
	// Network errors (net.Error, EOF, resets) and anything unrecognised: retry with backoff.
	return KindTransient
}

func classifyRejected(r *RejectedError) Kind {
	if r.ErrorCode == ErrorCodeInvalidToken {
		return KindInvalidToken
	}
	switch {
	case r.StatusCode == 429, r.StatusCode >= 500 && r.StatusCode <= 599:
		return KindTransient
	case r.StatusCode >= 400 && r.StatusCode <= 499:
		if mentionsOwnershipToken(r.ErrorMessage) || mentionsOwnershipToken(r.ErrorCode) {
			return KindInvalidToken
		}
		return KindPermanent
	}
	// A status outside 4xx/5xx on /rejected is an answer we cannot interpret.
	return KindPermanent
}

func mentionsOwnershipToken(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "ownership token") || strings.Contains(s, "ownershiptoken")
}

// isClockError finds local-clock evidence: our verification of the server's
// chain failed as expired (or not yet valid) at our clock, or Dial judged a
// server's alert to be about our clock.
func isClockError(err error) bool {
	// crypto/x509 returns CertificateInvalidError by value, never a pointer.
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return true
	}
	var ce *ClockError
	return errors.As(err, &ce)
}

func isTLSVerificationError(err error) bool {
	var verr *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	if alert := alertText(err); alert != "" {
		// The server refused our certificate: not a network blip. Other
		// alerts (internal error, …) may pass.
		return certificateAlerts[alert]
	}
	return errors.As(err, &verr) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci)
}
