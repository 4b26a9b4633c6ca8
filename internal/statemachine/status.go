package statemachine

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/store"
)

// StatusText is the one line a person reads in `systemctl status` and
// `provisiond status`, for example "registered as gw-0001",
// "cert-pending: RegisterThing retry 3 in 8s (503 InternalFailure: busy)" or
// "unprovisioned: waiting for a plausible clock". It words the sub-state
// next derives (making the key and getting the certificate read alike).
func StatusText(s store.State, now time.Time) string {
	text := provisioningText(s, now)
	switch {
	case s.Phase == store.Registered:
	case s.Renewal == store.RenewalRotation:
		text = "rotating, the old identity still in use: " + text
	case s.Renewal == store.RenewalRefused:
		text = RefusedStatus + ": " + text
	}
	if c := s.Claim; c != nil && c.PassedOver != "" && s.Phase != store.Registered {
		text += "; with claim " + c.Name + ", passed over: " + c.PassedOver
	}
	return text
}

// RefusedStatus begins the status while the daemon replaces an identity the
// service refused.
const RefusedStatus = "identity refused by the service (revoked?), reprovisioning"

// provisioningText words the sub-state next derives, without the reason a
// renewal adds.
func provisioningText(s store.State, now time.Time) string {
	phase := string(s.Phase)
	if phase == "" {
		phase = string(store.Unprovisioned)
	}
	a := next(s, keyFromService)
	switch {
	case s.Phase == store.Registered && s.LastOperation == opRestoreCredentials && s.LastError != "":
		return "registered as " + s.ThingName + ", but credentials.json cannot be written, so nothing can use the identity (" +
			strings.TrimPrefix(s.LastError, opRestoreCredentials+": ") + ")"
	case a == keepHandoff && !s.RotationDueAt.IsZero():
		return "registered as " + s.ThingName + ", rotation due " + s.RotationDueAt.UTC().Format(time.RFC3339)
	case a == keepHandoff:
		return "registered as " + s.ThingName
	case a == verify:
		return "registered as " + s.ThingName + ": verifying the identity with the service"
	case a == awaitClaim:
		return phase + ": " + s.LastError
	case a == waitForClock:
		text := phase + ": waiting for a plausible clock"
		if d := s.NextAttemptAt.Sub(now); !s.NextAttemptAt.IsZero() && d > 0 {
			text += ", next check in " + shortDuration(d)
		}
		if cause := cmp.Or(s.LastStep, s.LastError); cause != "" {
			text += " (" + cause + ")"
		}
		return text
	case s.LastError != "" && (s.Attempts > 0 || s.LastOperation != "" && s.NextAttemptAt.After(now)):
		// A failure of the key store's device counts no attempt, and
		// still waits.
		op := s.LastOperation
		// The step in check's words, when known, says more than the library's error.
		reason := cmp.Or(s.LastStep, strings.TrimPrefix(s.LastError, op+": "))
		if op == "" {
			op = "attempt"
		}
		when := "now"
		if d := s.NextAttemptAt.Sub(now); !s.NextAttemptAt.IsZero() && d > 0 {
			when = "in " + shortDuration(d)
		}
		retry := "retry"
		if s.Attempts > 0 {
			retry += " " + strconv.Itoa(s.Attempts)
		}
		return fmt.Sprintf("%s: %s %s %s (%s)", phase, op, retry, when, reason)
	}
	var text string
	switch a {
	case proveAndHandOver:
		text = "cert-pending: registered as " + s.ThingName + ", checking the new certificate"
	case register:
		text = "cert-pending: registering certificate " + shortID(s.CertificateID)
	default:
		text = phase + ": requesting a certificate"
	}
	if s.LastError != "" {
		text += " (after " + s.LastError + ")"
	}
	return text
}

// tokenLifetime is how long AWS keeps an ownership token valid.
const tokenLifetime = time.Hour

// TokenExpiresAt is when the ownership token the state holds expires at
// the service, if it holds one.
func TokenExpiresAt(s store.State) (time.Time, bool) {
	if s.Phase != store.CertPending || s.TokenIssuedAt.IsZero() {
		return time.Time{}, false
	}
	return s.TokenIssuedAt.Add(tokenLifetime), true
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
