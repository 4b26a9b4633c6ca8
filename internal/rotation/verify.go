package rotation

import "time"

// VerifyJitterShare is the window a verification time is spread over, as a
// share of verify_every.
const VerifyJitterShare = 0.10

// VerifySchedule is when id is next re-proven with one CONNECT, every
// `every` after last (the last verification, or the identity's
// provisionedAt if none yet), spread earlier by up to VerifyJitterShare of
// every. Its key differs from the rotation's, so the two are independent.
// The same Decide rules apply: no proof at an implausible clock, and a late
// verification after a clock jump keeps the fleet's spread. There is no
// deadline: an expired certificate is the rotation's business.
func VerifySchedule(id Identity, last time.Time, every time.Duration) Schedule {
	if last.IsZero() {
		last = id.ProvisionedAt
	}
	nominal := last.Add(every)
	w := scale(every, VerifyJitterShare)
	return Schedule{
		At:        nominal.Add(-scale(w, Fraction(id.Key+"/verify"))),
		Nominal:   nominal,
		Window:    w,
		Rule:      "verify_every",
		NotBefore: id.NotBefore,
	}
}
