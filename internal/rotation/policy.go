package rotation

import (
	"errors"
	"fmt"
	"time"
)

// DefaultJitterShare is the jitter window as a share of the period when the
// config gives none.
const DefaultJitterShare = 0.10

// Policy is the config's rotation section, parsed. The zero Policy is off.
type Policy struct {
	// After is the identity's age at which it is due; 0 means not set.
	After time.Duration
	// BeforeExpiry is a margin before NotAfter; 0 means not set.
	BeforeExpiry time.Duration
	// LifetimeShare, in (0, 1), is the share of the lifetime after which the
	// identity is due; 0 means not set. At most one of BeforeExpiry and
	// LifetimeShare is set.
	LifetimeShare float64
	Jitter        Jitter
}

// Jitter is the width of the window the due time is spread over: a share of
// the period, or a fixed duration. The zero Jitter is DefaultJitterShare.
type Jitter struct {
	Share float64       // in [0, 1]
	Fixed time.Duration // used when set (> 0)
	// None is an explicit "0" or "0%": no spreading.
	None bool
}

// Enabled reports whether the policy rotates at all.
func (p Policy) Enabled() bool {
	return p.After > 0 || p.BeforeExpiry > 0 || p.LifetimeShare > 0
}

// window is the jitter window for a period, never longer than the period
// (a due time before the identity's start would rotate it at once).
func (j Jitter) window(period time.Duration) time.Duration {
	var w time.Duration
	switch {
	case j.None:
		return 0
	case j.Fixed > 0:
		w = j.Fixed
	case j.Share > 0:
		w = scale(period, j.Share)
	default:
		w = scale(period, DefaultJitterShare)
	}
	return min(w, period)
}

// Identity is what the schedule is computed from: the current certificate's
// validity, when the identity was handed over, and a key unique to it (the
// certificate id) that fixes its place in the jitter window.
type Identity struct {
	Key           string
	ProvisionedAt time.Time
	NotBefore     time.Time
	NotAfter      time.Time
}

// LifetimeError is a BeforeExpiry margin at least as long as the
// certificate's lifetime: every identity would be due the moment it is
// issued, and rotation would never end. The caller reports it and does not
// rotate this identity by policy.
type LifetimeError struct {
	Margin, Lifetime time.Duration
}

func (e *LifetimeError) Error() string {
	return fmt.Sprintf("rotation.before_expiry: %s is not shorter than the certificate's lifetime (%s): the identity would be due as soon as it is issued",
		e.Margin, e.Lifetime)
}

// Due computes when id is due under p. ok is false when p is off. An
// identity due by the rules at or before its provisionedAt is due halfway
// through the life it has left, so that such certificates do not rotate in
// a loop. The rules
// are taken as written: with only After, a certificate that expires before
// that age is not rotated first (the service then refuses it, and a refused
// identity is replaced through the claim); set BeforeExpiry too for that.
func (p Policy) Due(id Identity) (s Schedule, ok bool, err error) {
	if !p.Enabled() {
		return Schedule{}, false, nil
	}
	if id.Key == "" {
		return Schedule{}, false, errors.New("no certificate id to place the due time in its jitter window")
	}
	if p.After > 0 && id.ProvisionedAt.IsZero() {
		return Schedule{}, false, fmt.Errorf("certificate %s: no provisionedAt to count rotation.after from", id.Key)
	}
	if !id.NotAfter.After(id.NotBefore) {
		return Schedule{}, false, fmt.Errorf("certificate %s: its validity ends (%s) before it starts (%s)",
			id.Key, id.NotAfter.UTC().Format(time.RFC3339), id.NotBefore.UTC().Format(time.RFC3339))
	}
	type rule struct {
		name    string
		nominal time.Time
		period  time.Duration
	}
	var rules []rule
	if p.After > 0 {
		rules = append(rules, rule{"after", id.ProvisionedAt.Add(p.After), p.After})
	}
	lifetime := id.NotAfter.Sub(id.NotBefore)
	switch {
	case p.BeforeExpiry > 0:
		if p.BeforeExpiry >= lifetime {
			return Schedule{}, false, &LifetimeError{Margin: p.BeforeExpiry, Lifetime: lifetime}
		}
		rules = append(rules, rule{"before_expiry", id.NotAfter.Add(-p.BeforeExpiry), lifetime - p.BeforeExpiry})
	case p.LifetimeShare > 0:
		period := scale(lifetime, p.LifetimeShare)
		rules = append(rules, rule{"before_expiry", id.NotBefore.Add(period), period})
	}
	best := rules[0]
	for _, r := range rules[1:] {
		if r.nominal.Before(best.nominal) {
			best = r
		}
	}
	w := p.Jitter.window(best.period)
	at := best.nominal.Add(-scale(w, Fraction(id.Key)))
	if life := id.NotAfter.Sub(id.ProvisionedAt); !id.ProvisionedAt.IsZero() && life > 0 && !at.After(id.ProvisionedAt) {
		// Handed over already due (a start backdated past the rule's share,
		// or a certificate issued with less life left than the margin):
		// acting at once would rotate every new identity as soon as it
		// arrives, for ever. Halfway through the life it has left instead.
		at, w = id.ProvisionedAt.Add(life/2), 0
		best.name += ", due at issue: halfway through the life left"
	}
	return Schedule{
		At:        at,
		Nominal:   best.nominal,
		Window:    w,
		Rule:      best.name,
		NotBefore: id.NotBefore,
		Deadline:  id.NotAfter,
	}, true, nil
}

// scale returns d × f, f in [0, 1], without overflow for any d.
func scale(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * f)
}
