package rotation

import "time"

// Grace is how late a first decision (at start-up, or after the clock was
// set) may find the due time and still act at once. One second: the
// identities that act at once are those whose time fell in it, a second's
// worth of the fleet, like any other second of the window.
const Grace = time.Second

// WakeSlack is how late a wake-up at the time a Decision planned may come
// and still act: a loaded device wakes late, and a wake-up slipping past a
// narrow rule would wait for the next recurrence, and again, for ever.
const WakeSlack = time.Minute

// MaxRespread caps the window a late due time recurs in, so that an
// identity with a long jitter window (36 days for after: 365d) found late
// acts within the hour.
const MaxRespread = time.Hour

// Schedule is when one identity is due, with what Decide needs to judge a
// clock. The state machine persists At (status rotationDueAt shows the time
// Decide returns).
type Schedule struct {
	At        time.Time     // the due time, jitter applied
	Nominal   time.Time     // the due time the rule gives, before jitter
	Window    time.Duration // the jitter window At was spread over
	Rule      string        // "after", "before_expiry" or "verify_every", for logs
	NotBefore time.Time     // the clock is implausible before this
	Deadline  time.Time     // the certificate's NotAfter: act before it whatever the spread
}

// Action is what the caller does now.
type Action int

const (
	// Wait: sleep until Decision.At, then Decide again.
	Wait Action = iota
	// Act: rotate (or verify) now.
	Act
	// WaitForClock: the clock is before the certificate's start; wait for
	// it to be set (or poll), then Decide again.
	WaitForClock
)

func (a Action) String() string {
	switch a {
	case Wait:
		return "wait"
	case Act:
		return "act"
	case WaitForClock:
		return "wait for a plausible clock"
	}
	return "action(?)"
}

// Decision is what to do at a given time.
type Decision struct {
	Action Action
	At     time.Time // for Wait: when to decide again; for Act: now
	// Late is set when the due time was found in the past and moved to its
	// next recurrence (or acted on because the certificate expires first).
	Late bool
}

// Decide says what to do at now: wait until the due time, act, or wait for a
// plausible clock. planned is the At of the Decision the caller slept on
// when it wakes on that timer, and zero for a first decision (at start-up,
// or after the clock was set). See the package doc for the rules and why.
func (s Schedule) Decide(now, planned time.Time) Decision {
	if now.Before(s.NotBefore) {
		return Decision{Action: WaitForClock}
	}
	if !planned.IsZero() && !now.Before(planned) && now.Sub(planned) <= WakeSlack {
		return Decision{Action: Act, At: now, Late: planned.After(s.At)}
	}
	if now.Before(s.At) {
		return Decision{Action: Wait, At: s.At}
	}
	late := now.Sub(s.At) // saturates: no overflow for a clock centuries on
	if late <= Grace {
		return Decision{Action: Act, At: now}
	}
	r := min(s.Window, MaxRespread)
	if r <= Grace {
		// Too narrow to spread (or jitter off): act.
		return Decision{Action: Act, At: now, Late: true}
	}
	into := late % r
	if into == 0 {
		return Decision{Action: Act, At: now, Late: true}
	}
	next := now.Add(r - into)
	if !s.Deadline.IsZero() && !next.Before(s.Deadline) {
		return Decision{Action: Act, At: now, Late: true}
	}
	return Decision{Action: Wait, At: next, Late: true}
}
