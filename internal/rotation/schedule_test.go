package rotation

import (
	"fmt"
	"testing"
	"time"
)

func mustDue(t *testing.T, p Policy, id Identity) Schedule {
	t.Helper()
	s, ok, err := p.Due(id)
	if err != nil || !ok {
		t.Fatalf("Due: ok %v, err %v", ok, err)
	}
	return s
}

func TestDecide(t *testing.T) {
	s := mustDue(t, Policy{After: time.Hour}, identity("k", 365*day))
	var none time.Time
	for _, tc := range []struct {
		name         string
		now, planned time.Time
		want         Action
		wantAt       time.Time // zero: not checked
		late         bool
	}{
		{"clock before the certificate's start (RTC-less boot)", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), none, WaitForClock, none, false},
		{"a second before the start", s.NotBefore.Add(-time.Second), none, WaitForClock, none, false},
		{"a wake-up at a clock set back before the start", s.NotBefore.Add(-time.Second), s.At, WaitForClock, none, false},
		{"provisioned, not yet due", s.NotBefore.Add(2 * time.Minute), none, Wait, s.At, false},
		{"exactly due at start-up", s.At, none, Act, s.At, false},
		{"due within Grace at start-up", s.At.Add(Grace), none, Act, s.At.Add(Grace), false},
		{"the timer fired on time", s.At, s.At, Act, s.At, false},
		{"the timer fired late on a loaded device", s.At.Add(WakeSlack), s.At, Act, s.At.Add(WakeSlack), false},
		{"woken early (a clock set back a little)", s.At.Add(-time.Minute), s.At, Wait, s.At, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := s.Decide(tc.now, tc.planned)
			if d.Action != tc.want || d.Late != tc.late {
				t.Fatalf("Decide(%s) = %+v, want %v (late %v)", tc.now, d, tc.want, tc.late)
			}
			if !tc.wantAt.IsZero() && !d.At.Equal(tc.wantAt) {
				t.Errorf("at %s, want %s", d.At, tc.wantAt)
			}
		})
	}
}

// A due time found in the past waits for its next recurrence, within one
// window, at a place fixed by the identity: a restart before then finds the
// same time, and the certificate's expiry overrides the wait.
func TestDecideLate(t *testing.T) {
	s := mustDue(t, Policy{After: time.Hour}, identity("late", 365*day))
	now := s.At.Add(40*day + 17*time.Second) // not a whole number of windows late
	d := s.Decide(now, time.Time{})
	if d.Action != Wait || !d.Late {
		t.Fatalf("Decide 40 days late = %+v, want a late wait", d)
	}
	if !d.At.After(now) || d.At.After(now.Add(s.Window)) {
		t.Errorf("late wait until %s, want within (%s, %s]", d.At, now, now.Add(s.Window))
	}
	if restart := now.Add(d.At.Sub(now) / 2); !s.Decide(restart, time.Time{}).At.Equal(d.At) {
		t.Errorf("a restart before the recurrence waits until %s, not %s: the spread would be re-rolled",
			s.Decide(restart, time.Time{}).At, d.At)
	}
	if r := s.Decide(d.At.Add(20*time.Second), d.At); r.Action != Act || !r.Late {
		t.Errorf("woken 20s after the planned recurrence: Decide = %+v, want a late act", r)
	}
	if r := s.Decide(d.At, time.Time{}); r.Action != Act {
		t.Errorf("a start-up exactly at the recurrence: Decide = %+v, want act", r)
	}

	expiring := s
	expiring.Deadline = now.Add(time.Second)
	if r := expiring.Decide(now, time.Time{}); r.Action != Act {
		t.Errorf("certificate expiring before the recurrence: Decide = %+v, want act", r)
	}

	long := mustDue(t, Policy{After: 365 * day}, identity("long", 2*365*day))
	lnow := long.At.Add(10 * day)
	if r := long.Decide(lnow, time.Time{}); r.Action == Wait && r.At.After(lnow.Add(MaxRespread)) {
		t.Errorf("a late identity with a 36-day window waits until %s, more than %s", r.At, MaxRespread)
	}

	none := mustDue(t, Policy{After: time.Hour, Jitter: Jitter{None: true}}, identity("none", 365*day))
	if r := none.Decide(none.At.Add(day), time.Time{}); r.Action != Act || !r.Late {
		t.Errorf("late with jitter off: %+v, want act", r)
	}
}

// A fleet provisioned in the same second boots with a clock that is first
// stale (before the certificates), then jumps forward by months with the
// first time sync. Nothing rotates at the stale clock; after the jump the
// fleet's rotations keep the spread of the jitter window instead of firing
// in the boot second.
func TestClockJumpDoesNotRotateTheFleet(t *testing.T) {
	const n = 500
	p := Policy{After: time.Hour}
	stale := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	synced := t0.Add(120 * day)
	var window time.Duration
	atOnce := 0
	perSecond := map[int64]int{}
	for i := range n {
		s := mustDue(t, p, identity(fmt.Sprintf("device-%03d", i), 365*day))
		window = s.Window
		if d := s.Decide(stale, time.Time{}); d.Action != WaitForClock {
			t.Fatalf("at a stale clock: %+v, want wait for clock", d)
		}
		d := s.Decide(synced, time.Time{})
		switch d.Action {
		case Act:
			atOnce++
			perSecond[synced.Unix()]++
		case Wait:
			if !d.At.After(synced) || d.At.After(synced.Add(window)) {
				t.Fatalf("device %d waits until %s, outside the window after the jump", i, d.At)
			}
			if r := s.Decide(d.At, d.At); r.Action != Act {
				t.Fatalf("device %d at its time: %+v, want act", i, r)
			}
			perSecond[d.At.Unix()]++
		default:
			t.Fatalf("after the jump: %+v", d)
		}
	}
	// At most a second's share of the fleet acts at once (1.4 of 500), not the fleet.
	if limit := 3*n*int(Grace)/int(window) + 1; atOnce > limit {
		t.Errorf("%d of %d devices rotate in the second the clock jumped (limit %d)", atOnce, n, limit)
	}
	peak := 0
	for _, c := range perSecond {
		peak = max(peak, c)
	}
	if peak > 10 {
		t.Errorf("peak %d rotations in one second after the jump", peak)
	}
}

// The 3-second certificate of the end-to-end test: due at half its life,
// and acted on at once when found late (its window is too narrow to spread).
func TestTinyLifetime(t *testing.T) {
	s := mustDue(t, Policy{LifetimeShare: 0.5}, identity("tiny", 3*time.Second))
	if s.At.Before(t0.Add(1350*time.Millisecond)) || s.At.After(t0.Add(1500*time.Millisecond)) {
		t.Errorf("due %s, want within 150ms before %s", s.At, t0.Add(1500*time.Millisecond))
	}
	if d := s.Decide(t0.Add(500*time.Millisecond), time.Time{}); d.Action != Wait || !d.At.Equal(s.At) {
		t.Errorf("at 0.5s: %+v, want wait until %s", d, s.At)
	}
	if d := s.Decide(t0.Add(2900*time.Millisecond), time.Time{}); d.Action != Act {
		t.Errorf("at 2.9s: %+v, want act", d)
	}
}

func TestVerifySchedule(t *testing.T) {
	id := identity("v", 365*day)
	first := VerifySchedule(id, time.Time{}, 24*time.Hour)
	if !first.Nominal.Equal(id.ProvisionedAt.Add(24 * time.Hour)) {
		t.Errorf("first verification nominal %s, want a day after provisioning", first.Nominal)
	}
	last := t0.Add(10 * day)
	s := VerifySchedule(id, last, 24*time.Hour)
	if s.At.After(last.Add(24*time.Hour)) || s.At.Before(last.Add(24*time.Hour-144*time.Minute)) {
		t.Errorf("next verification %s outside the last 10%% of the day after %s", s.At, last)
	}
	if s.At.Sub(last) == mustDue(t, Policy{After: 24 * time.Hour}, Identity{Key: id.Key, ProvisionedAt: last,
		NotBefore: id.NotBefore, NotAfter: id.NotAfter}).At.Sub(last) {
		t.Error("verification and rotation share their place in the window")
	}
	if d := s.Decide(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}); d.Action != WaitForClock {
		t.Errorf("verification at an implausible clock: %+v", d)
	}
}
