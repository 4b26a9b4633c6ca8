package rotation

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// identity is a certificate issued at t0 for the given lifetime, handed over
// a minute later.
func identity(key string, lifetime time.Duration) Identity {
	return Identity{Key: key, ProvisionedAt: t0.Add(time.Minute), NotBefore: t0, NotAfter: t0.Add(lifetime)}
}

func TestDue(t *testing.T) {
	year := 365 * day
	to2049 := Identity{Key: "c2049", ProvisionedAt: t0.Add(time.Minute), NotBefore: t0,
		NotAfter: time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)}
	life2049 := to2049.NotAfter.Sub(to2049.NotBefore)
	for _, tc := range []struct {
		name        string
		p           Policy
		id          Identity
		wantNominal time.Time
		wantWindow  time.Duration
		wantRule    string
	}{
		{"after: age from provisionedAt", Policy{After: 365 * day}, identity("a", 2*year),
			t0.Add(time.Minute + 365*day), 36*day + 12*time.Hour, "after"},
		{"before_expiry: fixed margin", Policy{BeforeExpiry: 30 * day}, identity("b", year),
			t0.Add(335 * day), scale(335*day, 0.1), "before_expiry"},
		{"before_expiry: share of the lifetime", Policy{LifetimeShare: 0.8}, identity("c", 100*day),
			t0.Add(80 * day), 8 * day, "before_expiry"},
		{"both: age is earlier", Policy{After: 90 * day, LifetimeShare: 0.8}, identity("d", year),
			t0.Add(time.Minute + 90*day), 9 * day, "after"},
		{"both: expiry is earlier", Policy{After: 365 * day, BeforeExpiry: 30 * day}, identity("e", 90*day),
			t0.Add(60 * day), 6 * day, "before_expiry"},
		{"certificate to 2049, 80%", Policy{LifetimeShare: 0.8}, to2049,
			t0.Add(scale(life2049, 0.8)), scale(scale(life2049, 0.8), 0.1), "before_expiry"},
		{"certificate to 2049, 30 days before, with age", Policy{After: 365 * day, BeforeExpiry: 30 * day}, to2049,
			t0.Add(time.Minute + 365*day), 36*day + 12*time.Hour, "after"},
		{"tiny lifetime: 3s at 50%", Policy{LifetimeShare: 0.5}, identity("f", 3*time.Second),
			t0.Add(1500 * time.Millisecond), 150 * time.Millisecond, "before_expiry"},
		{"fixed jitter", Policy{After: time.Hour, Jitter: Jitter{Fixed: 2 * time.Minute}}, identity("g", year),
			t0.Add(61 * time.Minute), 2 * time.Minute, "after"},
		{"jitter as a share", Policy{After: time.Hour, Jitter: Jitter{Share: 0.5}}, identity("h", year),
			t0.Add(61 * time.Minute), 30 * time.Minute, "after"},
		{"fixed jitter longer than the period is cut to it", Policy{After: time.Hour, Jitter: Jitter{Fixed: 5 * time.Hour}}, identity("i", year),
			t0.Add(61 * time.Minute), time.Hour, "after"},
		{"no jitter", Policy{After: time.Hour, Jitter: Jitter{None: true}}, identity("j", year),
			t0.Add(61 * time.Minute), 0, "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok, err := tc.p.Due(tc.id)
			if err != nil || !ok {
				t.Fatalf("Due: ok %v, err %v", ok, err)
			}
			if !s.Nominal.Equal(tc.wantNominal) {
				t.Errorf("nominal %s, want %s", s.Nominal, tc.wantNominal)
			}
			if s.Window != tc.wantWindow {
				t.Errorf("window %s, want %s", s.Window, tc.wantWindow)
			}
			if s.Rule != tc.wantRule {
				t.Errorf("rule %q, want %q", s.Rule, tc.wantRule)
			}
			// Earlier, never later, and within the window.
			if s.At.After(s.Nominal) || s.At.Before(s.Nominal.Add(-s.Window)) {
				t.Errorf("due %s outside [%s, %s]", s.At, s.Nominal.Add(-s.Window), s.Nominal)
			}
			if s.Window > 0 && s.At.Equal(s.Nominal) {
				t.Errorf("due %s not moved by the jitter", s.At)
			}
			if !s.Deadline.Equal(tc.id.NotAfter) || !s.NotBefore.Equal(tc.id.NotBefore) {
				t.Errorf("deadline %s / not before %s, want the certificate's validity", s.Deadline, s.NotBefore)
			}
			again, _, _ := tc.p.Due(tc.id)
			if !again.At.Equal(s.At) {
				t.Errorf("a second computation gave %s, then %s: a restart would re-roll it", s.At, again.At)
			}
		})
	}
}

func TestDueOffAndErrors(t *testing.T) {
	if _, ok, err := (Policy{}).Due(identity("x", day)); ok || err != nil {
		t.Errorf("zero policy: ok %v, err %v; want off", ok, err)
	}
	_, ok, err := Policy{BeforeExpiry: 30 * day}.Due(identity("x", 3*time.Second))
	var le *LifetimeError
	if ok || !errors.As(err, &le) || le.Lifetime != 3*time.Second {
		t.Fatalf("30d margin on a 3s certificate: ok %v, err %v; want a LifetimeError", ok, err)
	}
	for name, edit := range map[string]func(*Identity){
		"validity ending before it starts": func(id *Identity) { id.NotAfter = id.NotBefore.Add(-time.Second) },
		"no key":                           func(id *Identity) { id.Key = "" },
		"no provisionedAt":                 func(id *Identity) { id.ProvisionedAt = time.Time{} },
	} {
		bad := identity("x", day)
		edit(&bad)
		if _, ok, err := (Policy{After: time.Hour}).Due(bad); ok || err == nil {
			t.Errorf("%s: ok %v, err %v; want an error", name, ok, err)
		}
	}
}

// The jitter of a fleet provisioned in the same second fills its window:
// every due time lies in it, and they are spread over all of it.
func TestJitterSpreadsAFleet(t *testing.T) {
	p := Policy{After: time.Hour}
	const n = 2000
	var first, last time.Time
	var tenths [10]int
	for i := range n {
		s, _, err := p.Due(identity(fmt.Sprintf("certificate-%04d", i), 365*day))
		if err != nil {
			t.Fatal(err)
		}
		if s.At.After(s.Nominal) || s.At.Before(s.Nominal.Add(-s.Window)) {
			t.Fatalf("due %s outside the window", s.At)
		}
		if first.IsZero() || s.At.Before(first) {
			first = s.At
		}
		if s.At.After(last) {
			last = s.At
		}
		tenths[int(s.Nominal.Sub(s.At)*10/s.Window)]++
	}
	if spread := last.Sub(first); spread < 5*time.Minute+30*time.Second {
		t.Errorf("%d due times spread over %s of a 6m window", n, spread)
	}
	for i, c := range tenths {
		if c < n/10/2 || c > n/10*2 {
			t.Errorf("tenth %d of the window holds %d of %d due times: not uniform (%v)", i, c, n, tenths)
		}
	}
}

func TestFraction(t *testing.T) {
	if Fraction("a") != Fraction("a") {
		t.Error("Fraction is not deterministic")
	}
	if Fraction("serial-0001") == Fraction("serial-0002") {
		t.Error("neighbouring keys share a fraction")
	}
	for i := range 1000 {
		if f := Fraction(fmt.Sprint(i)); f < 0 || f >= 1 {
			t.Fatalf("Fraction(%d) = %v, outside [0, 1)", i, f)
		}
	}
}

// A certificate handed over past its due time (its start backdated beyond
// the rule's share, as the emulator backdates a minute) is due halfway
// through the life it has left, not at once: otherwise every new identity
// would be rotated as soon as it arrives.
func TestDueAtIssueIsHalfwayThroughTheLifeLeft(t *testing.T) {
	id := Identity{Key: "backdated", NotBefore: t0.Add(-time.Minute), ProvisionedAt: t0.Add(time.Second), NotAfter: t0.Add(3 * time.Second)}
	s, ok, err := Policy{LifetimeShare: 0.5}.Due(id)
	if err != nil || !ok {
		t.Fatalf("Due: %v %v", ok, err)
	}
	if want := t0.Add(2 * time.Second); !s.At.Equal(want) {
		t.Errorf("due %s, want %s (halfway from the handover to the end)", s.At, want)
	}
	if d := s.Decide(id.ProvisionedAt, time.Time{}); d.Action != Wait || !d.At.Equal(s.At) {
		t.Errorf("at the handover: %+v, want a wait until %s", d, s.At)
	}
	long := Identity{Key: "due-later", NotBefore: t0, ProvisionedAt: t0.Add(time.Minute), NotAfter: t0.Add(100 * day)}
	if s, _, _ := (Policy{LifetimeShare: 0.8}).Due(long); !s.At.After(t0.Add(70 * day)) {
		t.Errorf("an identity due after its handover moved to %s", s.At)
	}
}
