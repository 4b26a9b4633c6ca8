package statemachine

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/store"
)

// maxOrphans bounds the orphan history kept in the state file.
const maxOrphans = 50

// transition is the one way the state changes: it applies change to a copy
// of the state, sets the phase to, saves it, and only then makes it the
// current state, announces it and passes the named crash point. A handler
// that runs next can trust what the saved state says is done.
func (r *Runner) transition(to store.Phase, point string, change func(*store.State)) error {
	if err := r.persist(to, change, false); err != nil {
		return err
	}
	r.crashPoint(point)
	return nil
}

// transitionWhile is transition for a step that a service call follows at
// once, with work that runs during the save. The saved state also holds
// that call's attempt record (see recordAttempt), which spares the call a
// durable write of its own. The work needs nothing the save records, and
// the next step needs both (the call, or the files the new state names);
// the crash point passes once both are done. A power cut between the two
// leaves a state that names a file not yet durable, which the handlers
// treat as unusable: at most the certificate being recorded is lost, as
// with the writes in sequence. A failed save is reported first; then the
// first failed work.
func (r *Runner) transitionWhile(to store.Phase, point string, change func(*store.State), work ...func() error) error {
	jobs := start(work...)
	err := r.persist(to, change, true)
	if werr := join(jobs); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	r.crashPoint(point)
	return nil
}

// persist saves the changed state and makes it the current one.
func (r *Runner) persist(to store.Phase, change func(*store.State), beforeCall bool) error {
	next := r.st
	next.Orphans = slices.Clone(r.st.Orphans)
	change(&next)
	next.Phase = to
	onDisk := next
	if beforeCall {
		onDisk = r.withAttempt(next)
	}
	if err := store.SaveState(r.files, onDisk); err != nil {
		return &localError{op: "save state", err: err}
	}
	from := r.st.Phase
	r.st = next
	r.attemptSaved = beforeCall // any earlier attempt record on disk is replaced
	if from != to {
		r.log.Info("state changed", append(r.fields(), zap.String("from", string(from)))...)
	}
	r.publishStatus()
	return nil
}

// succeeded clears the failure bookkeeping once a step made progress.
func succeeded(s *store.State) {
	s.Attempts = 0
	s.LastError = ""
	s.NextAttemptAt = time.Time{}
	s.Waiting = ""
}

// recordAttempt saves, before a service call, the failure count and retry
// time that a failure of this attempt would give (at the backoff's ceiling,
// without jitter), so that a crash or kill during the call makes the next
// start wait instead of calling again at once: a crash loop backs off like
// any failure. It is one state write per attempt; the state in memory keeps
// the count before the attempt, so failed counts it once and a success
// saves it as it was.
func (r *Runner) recordAttempt() {
	if r.attemptSaved {
		return
	}
	if err := store.SaveState(r.files, r.withAttempt(r.st)); err != nil {
		r.log.Warn("cannot save the attempt before calling the service", zap.Error(err))
		return
	}
	r.attemptSaved = true
}

// withAttempt is s as recordAttempt saves it: one more attempt, and the
// retry time its failure would give.
func (r *Runner) withAttempt(s store.State) store.State {
	s.Attempts++
	s.NextAttemptAt = r.clock.Now().Add(r.backoff.ceiling(s.Attempts))
	return s
}

// failed decides how long to wait after err and persists that decision
// (NextAttemptAt) before waiting, so that a restart honours it.
func (r *Runner) failed(op string, err error) {
	r.closeSession()
	kind := classify(err)
	next := r.st
	next.Waiting = ""
	var wait time.Duration
	switch kind {
	case fleet.KindClock:
		// Not the service's fault: do not count it, check again soon.
		next.Waiting = "a plausible clock"
		wait = clockRetry
	case fleet.KindPermanent, fleet.KindInvalidToken:
		next.Attempts++
		wait = r.set.Retry.Permanent
	default:
		next.Attempts++
		wait = r.backoff.delay(next.Attempts)
	}
	next.LastError = describe(op, err)
	next.NextAttemptAt = r.clock.Now().Add(wait)
	if serr := store.SaveState(r.files, next); serr != nil {
		// Keep going: the wait still protects the service while this
		// process lives.
		r.log.Error("cannot save the retry schedule", zap.Error(serr))
	}
	r.st = next
	r.attemptSaved = false // the next attempt records itself anew
	r.log.Warn("attempt failed", append(r.fields(),
		zap.String("operation", op),
		zap.String("kind", kind.String()),
		zap.String("error", next.LastError),
		zap.Duration("retryIn", wait))...)
	r.publishStatus()
	r.crashPoint(PointRetryScheduled)
}

// localError is a failure on this device (a store write), never the
// service's: it is retried with the transient backoff.
type localError struct {
	op  string
	err error
}

func (e *localError) Error() string { return e.op + ": " + e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func classify(err error) fleet.Kind {
	var local *localError
	if errors.As(err, &local) {
		return fleet.KindTransient
	}
	return fleet.Classify(err)
}

// maxErrorText bounds LastError so that a long service message cannot bloat
// the state file or the status line.
const maxErrorText = 300

// describe renders "operation: reason" for LastError and the status line.
func describe(op string, err error) string {
	var reason string
	var rej *fleet.RejectedError
	var local *localError
	switch {
	case errors.As(err, &rej):
		reason = fmt.Sprintf("%d %s", rej.StatusCode, rej.ErrorCode)
		if rej.ErrorMessage != "" {
			reason += ": " + rej.ErrorMessage
		}
	case errors.As(err, &local):
		op, reason = local.op, local.err.Error()
	default:
		reason = err.Error()
	}
	text := op + ": " + reason
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "…"
	}
	return text
}

func (r *Runner) publishStatus() {
	r.notify.Status(StatusText(r.st, r.clock.Now()))
}

// fields describe the state for a log line. Never the key or the token.
func (r *Runner) fields() []zap.Field {
	f := []zap.Field{zap.String("state", string(r.st.Phase)), zap.Int("identity", r.st.Identity)}
	if r.st.Attempts > 0 {
		f = append(f, zap.Int("attempt", r.st.Attempts))
	}
	if r.st.CertificateID != "" {
		f = append(f, zap.String("certificateId", r.st.CertificateID))
	}
	if r.st.ThingName != "" {
		f = append(f, zap.String("thingName", r.st.ThingName))
	}
	return f
}

func (r *Runner) crashPoint(point string) {
	if r.crash != nil && point != "" {
		r.crash(point)
	}
}

// addOrphan records a certificate this device gives up.
func addOrphan(s *store.State, id, reason string, at time.Time) {
	if id == "" {
		return
	}
	s.Orphans = append(s.Orphans, store.Orphan{CertificateID: id, Reason: reason, At: at})
	if n := len(s.Orphans); n > maxOrphans {
		s.Orphans = slices.Delete(s.Orphans, 0, n-maxOrphans)
	}
}

// forgetIdentity clears everything tied to the current identity and moves
// to the next identity number, so that new files never overwrite ones an
// older credentials.json names.
func forgetIdentity(s *store.State) {
	s.Identity++
	s.KeyFile = ""
	s.CertificateFile = ""
	s.CertificateID = ""
	s.OwnershipToken = ""
	s.TokenIssuedAt = time.Time{}
	s.TokenBootID = ""
	s.TokenBootTime = 0
	s.ThingName = ""
	s.DeviceConfiguration = nil
	s.ProvisionedAt = time.Time{}
}
