// Package claims decides which claim certificate the daemon provisions
// with: a pure function of the claims the config lists (in priority order),
// what is known of each (its validity, whether it could be read, whether the
// service refused it), and the device clock. The state machine persists the
// refusals and reports the decision; it never picks a claim itself.
//
// The rules, in the order a claim is judged:
//   - a claim that cannot be read (file missing, not a certificate, key
//     unusable) is passed over: the next one may work, and a fix to the file
//     is seen at once (the daemon watches the claim files);
//   - a claim the service refused (a TLS alert or a CONNACK refusal, the
//     same test as for identities) is passed over while that certificate is
//     the one in the file: a new certificate at the same path is judged
//     afresh;
//   - with a plausible clock, a claim outside its validity window (expired,
//     or not yet valid) is passed over. With an implausible clock, validity
//     is not judged: a device whose clock is years behind would otherwise
//     pass over every claim it has. A clock before the start of every claim
//     still in date is itself implausible: when nothing else is usable, a
//     claim not yet valid is used, and the handshake tells the clock wrong.
//
// A network failure never moves to the next claim: it says nothing about
// the claim, and a device behind a flaky link would otherwise cycle through
// its claims and report the wrong one as refused.
package claims

import (
	"time"
)

// Reason is why a claim was passed over.
type Reason string

// The reasons a claim is passed over. Their text is what status shows.
const (
	Unreadable  Reason = "unreadable"
	Refused     Reason = "refused by the service"
	Expired     Reason = "expired"
	NotYetValid Reason = "not yet valid"
)

// Claim is what is known of one configured claim.
type Claim struct {
	// Name is how status and the journal name it: its certificate file, or
	// "imported claim" for a temporary one.
	Name string
	// CertificateID is the certificate's id (the SHA-256 of its DER, as AWS
	// IoT names certificates); empty when it could not be read.
	CertificateID string
	// NotBefore and NotAfter are the certificate's validity window.
	NotBefore, NotAfter time.Time
	// ReadError is why the certificate or its key cannot be used; nil when
	// both were read.
	ReadError error
	// Ref is how the dialer finds the claim again: the config field of a
	// file claim, the drop file of a temporary one. Opaque here.
	Ref string
	// Temporary marks a claim handed over by a trusted user: it is removed
	// once used, or once expired.
	Temporary bool
	// Template and Parameters are what a temporary claim's drop asked for
	// (and the config allows); empty for a file claim.
	Template   string
	Parameters map[string]string
}

// Installed is a claim a tool that has one claim lists: named, and valid
// whatever the clock (the tool checks nothing of it).
func Installed(name string) Claim {
	return Claim{Name: name, CertificateID: name, Ref: name, NotAfter: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Passed is a claim passed over, and why.
type Passed struct {
	Index  int
	Reason Reason
}

// Decision is the claim to use, and the ones passed over before it.
type Decision struct {
	// Use is the index of the claim to provision with; -1 when none is
	// usable.
	Use int
	// Passed lists the claims before Use (all of them when Use is -1) that
	// were passed over, in order.
	Passed []Passed
}

// Choose picks the first usable claim. refused holds the certificate ids the
// service has refused; plausible says whether the device clock can judge a
// certificate's validity.
func Choose(claims []Claim, refused map[string]bool, now time.Time, plausible bool) Decision {
	d := choose(claims, refused, now, plausible, true)
	if d.Use < 0 && plausible && d.passedFor(NotYetValid) {
		return choose(claims, refused, now, plausible, false)
	}
	return d
}

func choose(claims []Claim, refused map[string]bool, now time.Time, plausible, early bool) Decision {
	d := Decision{Use: -1}
	for i, c := range claims {
		reason, ok := judge(c, refused, now, plausible, early)
		if ok {
			d.Use = i
			return d
		}
		d.Passed = append(d.Passed, Passed{Index: i, Reason: reason})
	}
	return d
}

// judge says whether a claim is usable; early says whether a claim not yet
// valid counts as such.
func judge(c Claim, refused map[string]bool, now time.Time, plausible, early bool) (Reason, bool) {
	switch {
	case c.ReadError != nil || c.CertificateID == "":
		return Unreadable, false
	case refused[c.CertificateID]:
		return Refused, false
	case plausible && now.After(c.NotAfter):
		return Expired, false
	case plausible && early && now.Before(c.NotBefore):
		return NotYetValid, false
	}
	return "", true
}

func (d Decision) passedFor(r Reason) bool {
	for _, p := range d.Passed {
		if p.Reason == r {
			return true
		}
	}
	return false
}

// AllExpired reports whether no claim is usable and every one was passed
// over for its validity alone: only a new claim helps, and retrying the
// endpoint does not.
func (d Decision) AllExpired() bool {
	if d.Use >= 0 || len(d.Passed) == 0 {
		return false
	}
	for _, p := range d.Passed {
		if p.Reason != Expired && p.Reason != NotYetValid {
			return false
		}
	}
	return true
}

// Retry is the claim to try again when none is usable: the first that was
// passed over only because the service refused it (an operator may make it
// ACTIVE again), after the long wait for permanent failures. -1 when there is
// none, and waiting for a claim file to change is all there is to do.
func (d Decision) Retry() int {
	if d.Use >= 0 {
		return -1
	}
	for _, p := range d.Passed {
		if p.Reason == Refused {
			return p.Index
		}
	}
	return -1
}
