package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ErrorCodeInvalidToken is the errorCode AWS sends when the ownership token is refused.
const ErrorCodeInvalidToken = "InvalidCertificateOwnershipToken"

// tlsAlertCertificateExpired is the TLS alert (RFC 8446 section 6.2) a server sends
// when our certificate is outside its validity at the server's clock.
const tlsAlertCertificateExpired = "tls: expired certificate"

// Classify says how the caller should react to err:
//   - KindInvalidToken: a rejection with errorCode InvalidCertificateOwnershipToken, or a
//     4xx whose message is about the ownership token;
//   - KindClock: a TLS failure because a certificate is expired or not yet valid, as
//     judged by our clock (server certificate) or by the server (our certificate);
//   - KindTransient: timeouts, connection loss, network errors, 429 and 5xx, a
//     CONNACK "server unavailable", and any error it does not recognise;
//   - KindPermanent: other rejections, invalid answers, bad options, other TLS
//     verification failures and CONNACK refusals.
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

// isClockError finds certificate validity failures in either direction.
func isClockError(err error) bool {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return true
	}
	var pinv *x509.CertificateInvalidError
	if errors.As(err, &pinv) && pinv.Reason == x509.Expired {
		return true
	}
	var alert tls.AlertError
	if errors.As(err, &alert) && alert.Error() == tlsAlertCertificateExpired {
		return true
	}
	// crypto/tls reports a peer's alert as a *net.OpError "remote error" around an
	// unexported alert type, whose text is fixed by the RFC name of the alert.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil && op.Err.Error() == tlsAlertCertificateExpired {
		return true
	}
	return false
}

func isTLSVerificationError(err error) bool {
	var verr *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		// The server refused our certificate (bad, unknown, revoked): not a network blip.
		return true
	}
	return errors.As(err, &verr) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci)
}
