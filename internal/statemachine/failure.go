package statemachine

import (
	"errors"
	"fmt"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/store"
)

// stepError is a step's failure, wrapped once where it happens with the
// operation that failed.
type stepError struct {
	Op  string
	Err error
	// Local marks a failure on this device (a store write), never the
	// service's: it is retried with the transient backoff.
	Local bool
}

func (e *stepError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *stepError) Unwrap() error { return e.Err }

func serviceErr(op string, err error) error { return &stepError{Op: op, Err: err} }
func localErr(op string, err error) error   { return &stepError{Op: op, Err: err, Local: true} }

// maxErrorText bounds LastError and LastStep so that a long service message cannot bloat
// the state file or the status line.
const maxErrorText = 300

// failure is the record of a failed attempt: the operation, the kind that
// decides the wait, "operation: reason" for people and, when the error
// names it, the failed step in check's words. device marks a failure of
// the key store's device (a TPM, a token): no fault of the service's, so
// it is not counted as an attempt and waits by its own kind.
type failure struct {
	op     string
	kind   fleet.Kind
	text   string
	step   string
	device bool
	// noClaim: no claim was usable, so nothing was sent (store.KindClaim).
	noClaim *noClaimError
	// refusedClaim is the certificate id of a claim the service refused.
	refusedClaim string
}

// errorKinds map the service client's classification onto the state's
// record: the one place the two meet.
var errorKinds = map[fleet.Kind]store.ErrorKind{
	fleet.KindTransient:    store.KindTransient,
	fleet.KindPermanent:    store.KindPermanent,
	fleet.KindInvalidToken: store.KindInvalidToken,
	fleet.KindClock:        store.KindClock,
}

// errorKind is the state's record of k.
func errorKind(k fleet.Kind) store.ErrorKind {
	if kind, ok := errorKinds[k]; ok {
		return kind
	}
	return store.KindTransient
}

// steppedError is an error that names its failed step in `provisiond
// check`'s words. The daemon's dialer wraps its errors so (the explaining
// needs network packages this package must not import).
type steppedError interface {
	error
	Step() string
}

func failureOf(err error) failure {
	f := failure{op: "attempt", kind: fleet.Classify(err)}
	var stepped steppedError
	if errors.As(err, &stepped) {
		f.step = bounded(stepped.Step())
	}
	var step *stepError
	if errors.As(err, &step) {
		f.op, err = step.Op, step.Err
		if step.Local {
			f.kind = fleet.KindTransient
		}
	}
	var nc *noClaimError
	if errors.As(err, &nc) {
		f.op, f.noClaim, f.kind = "choose a claim", nc, fleet.KindPermanent
		f.text = bounded(nc.text)
		return f
	}
	var refused *claimRefusedError
	if errors.As(err, &refused) {
		f.refusedClaim = refused.certificateID
	}
	if transient, ok := keystore.Device(err); ok {
		f.device, f.kind = true, fleet.KindPermanent
		if transient {
			f.kind = fleet.KindTransient
		}
	}
	reason := err.Error()
	var rej *fleet.RejectedError
	if errors.As(err, &rej) {
		reason = fmt.Sprintf("%d %s", rej.StatusCode, rej.ErrorCode)
		if rej.ErrorMessage != "" {
			reason += ": " + rej.ErrorMessage
		}
	}
	f.text = bounded(f.op + ": " + reason)
	return f
}

func bounded(text string) string {
	if len(text) > maxErrorText {
		return text[:maxErrorText] + "…"
	}
	return text
}

// clockRetry is how soon a clock failure is retried: the clock usually
// becomes plausible when NTP syncs, which takes seconds to minutes.
const clockRetry = 30 * time.Second

// deviceRetry is how soon a transient failure of the key store's device
// (a busy TPM, a token's session lost) is retried: it passes in seconds,
// and owes nothing to the service's backoff, which the service's own
// failures grow.
const deviceRetry = 5 * time.Second

// retryWait is how long to wait after f, the attempts-th failure.
func (r *Runner) retryWait(f failure, attempts int) time.Duration {
	switch {
	case f.refusedClaim != "" && r.anotherClaimUsable(f.refusedClaim):
		return 0 // the next claim, at once
	case f.device && f.kind == fleet.KindTransient:
		return deviceRetry
	case f.kind == fleet.KindClock:
		return clockRetry
	case f.kind == fleet.KindPermanent, f.kind == fleet.KindInvalidToken:
		return r.set.Retry.Permanent
	}
	return r.backoff.delay(attempts)
}

// resumed is a loaded state as the runner starts from it: identities count
// from 1, and a call under way belongs to the process that saved it (its
// attempt stays counted: a crash during a call backs off like a failure).
func resumed(s store.State) store.State {
	s.Identity = max(s.Identity, 1)
	s.Calling = false
	return s
}

// beforeCall is s as saved before a service call: one more attempt, and the
// retry time its failure would give (at the backoff's ceiling, without
// jitter), so that a crash or kill during the call makes the next start
// wait instead of calling again at once. It counts a call once.
func beforeCall(s store.State, now time.Time, ceiling func(int) time.Duration) store.State {
	if s.Calling {
		return s
	}
	s.Attempts++
	s.NextAttemptAt = now.Add(ceiling(s.Attempts))
	s.Calling = true
	return s
}

// answered is s once the recorded call got its answer: that is no failure,
// so the attempt beforeCall counted is taken back.
func answered(s store.State) store.State {
	if s.Calling {
		s.Attempts--
		s.Calling = false
	}
	return s
}

// counted is s with the current attempt counted as a failure, once.
func counted(s store.State) store.State {
	if !s.Calling {
		s.Attempts++
	}
	s.Calling = false
	return s
}

// afterFailure is s once an attempt failed with f: the attempt counted
// (unless the clock or the key store's device is to blame: not the
// service's fault), the failure recorded and the next attempt scheduled
// after wait.
func afterFailure(s store.State, f failure, now time.Time, wait func(failure, int) time.Duration) store.State {
	if f.kind == fleet.KindClock || f.device || f.noClaim != nil {
		s = answered(s)
	} else {
		s = counted(s)
	}
	s = withRefusal(s, f.refusedClaim)
	s.LastError, s.LastOperation, s.LastErrorKind, s.LastStep = f.text, f.op, errorKind(f.kind), f.step
	if f.noClaim != nil {
		s.LastErrorKind = store.KindClaim
		if f.noClaim.expired != nil {
			s.Claim = f.noClaim.expired
		}
	}
	s.NextAttemptAt = now.Add(wait(f, s.Attempts))
	return s
}

// progressed clears the failure record: a step made progress. The count
// stays: only a registration resets it (see succeeded).
func progressed(s store.State) store.State {
	s.LastError, s.LastOperation, s.LastErrorKind, s.LastStep = "", "", "", ""
	s.NextAttemptAt = time.Time{}
	return s
}

// succeeded clears the whole attempt record: a registration, or a
// handoff, is what counts as success.
func succeeded(s store.State) store.State {
	s = progressed(s)
	s.Attempts = 0
	s.Calling = false
	return s
}
