package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// remoteAlert builds the error crypto/tls returns when the peer sends an alert.
func remoteAlert(t *testing.T, text string) error {
	t.Helper()
	return &net.OpError{Op: "remote error", Err: errors.New(text)}
}

func TestClassify(t *testing.T) {
	rej := func(status int, code, msg string) error {
		return fmt.Errorf("call: %w", &RejectedError{Operation: OpRegisterThing, StatusCode: status, ErrorCode: code, ErrorMessage: msg})
	}
	expired := x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time is before"}
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"timeout", fmt.Errorf("RegisterThing: %w", ErrTimeout), KindTransient},
		{"connection lost", fmt.Errorf("x: %w: %w", ErrConnectionLost, io.EOF), KindTransient},
		{"closed", ErrClosed, KindTransient},
		{"ctx deadline", context.DeadlineExceeded, KindTransient},
		{"conn refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, KindTransient},
		{"eof", io.ErrUnexpectedEOF, KindTransient},
		{"paho network", fmt.Errorf("%w : %w", packets.ErrorNetworkError, io.EOF), KindTransient},
		{"connack unavailable", packets.ErrorRefusedServerUnavailable, KindTransient},
		{"connack not authorised", packets.ErrorRefusedNotAuthorised, KindPermanent},
		{"connack id rejected", packets.ErrorRefusedIDRejected, KindPermanent},
		{"429", rej(429, "Throttling", "rate"), KindTransient},
		{"500", rej(500, "InternalFailure", "oops"), KindTransient},
		{"503", rej(503, "ServiceUnavailable", ""), KindTransient},
		{"400 payload", rej(400, "InvalidPayload", "bad"), KindPermanent},
		{"403", rej(403, "AccessDenied", "no"), KindPermanent},
		{"404", rej(404, "ResourceNotFound", "no template"), KindPermanent},
		{"409", rej(409, "ResourceConflict", "exists"), KindPermanent},
		{"status 0", rej(0, "", ""), KindPermanent},
		{"invalid token code", rej(400, ErrorCodeInvalidToken, "Certificate ownership token cannot be empty."), KindInvalidToken},
		{"invalid token code any status", rej(500, ErrorCodeInvalidToken, ""), KindInvalidToken},
		{"4xx about the token", rej(400, "InvalidRequest", "The certificate ownership token has expired"), KindInvalidToken},
		{"5xx about the token", rej(500, "InternalFailure", "ownership token store down"), KindTransient},
		{"invalid answer", &InvalidAnswerError{Topic: "t", Field: "certificateId", Reason: "short"}, KindPermanent},
		{"options", &OptionsError{Field: "ClientID", Reason: "too long"}, KindPermanent},
		{"subscription refused", fmt.Errorf("sub: %w", ErrSubscriptionRefused), KindPermanent},
		{"server cert expired", &tls.CertificateVerificationError{Err: expired}, KindClock},
		{"server cert expired wrapped", fmt.Errorf("dial: %w", fmt.Errorf("%w : %w", packets.ErrorNetworkError, &tls.CertificateVerificationError{Err: expired})), KindClock},
		// The server's verdict on our certificate is about the clock only when
		// Dial found our clock before the certificate's start.
		{"our cert expired at the server", fmt.Errorf("%w : %w", packets.ErrorNetworkError, remoteAlert(t, "tls: expired certificate")), KindPermanent},
		{"our cert expired at an implausible clock", fmt.Errorf("connect: %w", &ClockError{Err: remoteAlert(t, "tls: expired certificate")}), KindClock},
		{"our cert refused", remoteAlert(t, "tls: bad certificate"), KindPermanent},
		{"unknown ca alert", remoteAlert(t, "tls: unknown certificate authority"), KindPermanent},
		{"revoked alert", remoteAlert(t, "tls: revoked certificate"), KindPermanent},
		{"access denied alert", remoteAlert(t, "tls: access denied"), KindPermanent},
		{"unsupported certificate alert", remoteAlert(t, "tls: unsupported certificate"), KindPermanent},
		{"certificate unknown alert", remoteAlert(t, "tls: unknown certificate"), KindPermanent},
		{"internal error alert", fmt.Errorf("%w : %w", packets.ErrorNetworkError, remoteAlert(t, "tls: internal error")), KindTransient},
		{"handshake failure alert", remoteAlert(t, "tls: handshake failure"), KindTransient},
		{"typed alert internal error", tls.AlertError(80), KindTransient},
		{"typed alert bad certificate", tls.AlertError(42), KindPermanent},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, KindPermanent},
		{"hostname", &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "x"}}, KindPermanent},
		{"other invalid", x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}, KindPermanent},
		{"unknown error", errors.New("something odd"), KindTransient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindTransient: "transient", KindPermanent: "permanent", KindInvalidToken: "invalid-token", KindClock: "clock", Kind(9): "kind(9)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(k), k.String(), want)
		}
	}
}

// A server's "expired certificate" alert is local-clock evidence only when
// our clock is before our certificate's start; otherwise the certificate is
// what is wrong.
func TestJudgeExpiredAlert(t *testing.T) {
	notBefore := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := &x509.Certificate{NotBefore: notBefore, NotAfter: notAfter}
	alert := fmt.Errorf("%w : %w", packets.ErrorNetworkError, remoteAlert(t, "tls: expired certificate"))
	for _, tc := range []struct {
		name string
		err  error
		now  time.Time
		want Kind
	}{
		{"clock before the certificate", alert, notBefore.Add(-24 * time.Hour), KindClock},
		{"clock inside the window", alert, notBefore.Add(24 * time.Hour), KindPermanent},
		{"certificate expired at our clock too", alert, notAfter.Add(24 * time.Hour), KindPermanent},
		{"other alert untouched", remoteAlert(t, "tls: internal error"), notBefore.Add(-24 * time.Hour), KindTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := judgeExpiredAlert(tc.err, cert, tc.now)
			if got := Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap the original error", err)
			}
		})
	}
}
