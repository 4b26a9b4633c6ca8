package fleet

import (
	"errors"
	"fmt"
)

// Kind is how the caller should react to an error.
type Kind int

// Error kinds, decided once by Classify.
const (
	// KindTransient: network, timeouts, connection loss, 429 and 5xx. Retry with backoff.
	KindTransient Kind = iota
	// KindPermanent: other 4xx and invalid answers. Retrying the same request will not help soon.
	KindPermanent
	// KindInvalidToken: the ownership token was refused; get a new certificate.
	KindInvalidToken
	// KindClock: TLS failed because the local clock is outside a certificate's validity.
	KindClock
)

func (k Kind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindPermanent:
		return "permanent"
	case KindInvalidToken:
		return "invalid-token"
	case KindClock:
		return "clock"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Sentinel errors for conditions with no service answer.
var (
	ErrTimeout        = errors.New("no response before the deadline")
	ErrConnectionLost = errors.New("connection lost")
)

// RejectedError is an answer on a /rejected topic.
type RejectedError struct {
	Operation    Operation
	StatusCode   int
	ErrorCode    string
	ErrorMessage string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%s rejected: %d %s: %s", e.Operation, e.StatusCode, e.ErrorCode, e.ErrorMessage)
}

// More sentinel errors, added with the client.
var (
	// ErrClosed is returned by calls on, or in flight during, Close.
	ErrClosed = errors.New("client closed")
	// ErrSubscriptionRefused is a SUBACK failure code: the claim policy does not allow the topic.
	ErrSubscriptionRefused = errors.New("subscription refused by the endpoint")
)

// OptionsError is a bad Options field or call argument, found before anything is sent.
type OptionsError struct {
	Field  string
	Reason string
}

func (e *OptionsError) Error() string {
	return "fleet: " + e.Field + ": " + e.Reason
}

// ErrRedial is returned by a call of an operation whose earlier call timed
// out (or was cancelled) on this connection after its request went out: the
// API has no correlation token, so that call's late answer would be taken
// for this one's. Dial again; Classify says transient.
var ErrRedial = errors.New("an earlier call of this operation timed out on this connection and may still be answered: dial again")
