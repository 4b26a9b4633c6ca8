package statemachine

import (
	"fmt"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/store"
)

// StatusText is the one line a person reads in `systemctl status` and
// `provisiond status`, for example "registered as gw-0001",
// "cert-pending: RegisterThing retry 3 in 8s (503 InternalFailure: busy)" or
// "unprovisioned: waiting for a plausible clock".
func StatusText(s store.State, now time.Time) string {
	phase := string(s.Phase)
	if phase == "" {
		phase = string(store.Unprovisioned)
	}
	switch {
	case s.Phase == store.Registered:
		return "registered as " + s.ThingName
	case s.Waiting != "":
		text := phase + ": waiting for " + s.Waiting
		if d := s.NextAttemptAt.Sub(now); !s.NextAttemptAt.IsZero() && d > 0 {
			text += ", next check in " + shortDuration(d)
		}
		if s.LastError != "" {
			text += " (" + s.LastError + ")"
		}
		return text
	case s.Attempts > 0 && s.LastError != "":
		op, reason := splitError(s.LastError)
		when := "now"
		if d := s.NextAttemptAt.Sub(now); !s.NextAttemptAt.IsZero() && d > 0 {
			when = "in " + shortDuration(d)
		}
		return fmt.Sprintf("%s: %s retry %d %s (%s)", phase, op, s.Attempts, when, reason)
	}
	var text string
	switch {
	case s.Phase == store.CertPending && s.ThingName != "":
		text = "cert-pending: registered as " + s.ThingName + ", checking the new certificate"
	case s.Phase == store.CertPending:
		text = "cert-pending: registering certificate " + shortID(s.CertificateID)
	default:
		text = phase + ": requesting a certificate"
	}
	if s.LastError != "" {
		text += " (after " + s.LastError + ")"
	}
	return text
}

// splitError splits a LastError "operation: reason" in two.
func splitError(e string) (op, reason string) {
	if op, reason, ok := strings.Cut(e, ": "); ok {
		return op, reason
	}
	return "attempt", e
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// shortDuration rounds to the second and drops zero tails: 8s, 5m, 1h, 1m30s.
func shortDuration(d time.Duration) string {
	if d < time.Second {
		return "1s"
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
