package statemachine

import (
	"slices"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/store"
)

// save is the one writer of state.json. It saves next and only then makes
// it the current state, so that memory equals disk and a handler that runs
// next can trust what the saved state says is done.
func (r *Runner) save(next store.State) error {
	if err := store.SaveState(r.files, next); err != nil {
		return localErr("save state", err)
	}
	from := r.st.Phase
	r.st = next
	if from != next.Phase {
		r.log.Info("state changed", append(r.fields(), zap.String("from", string(from)))...)
	}
	if r.onSave != nil {
		r.onSave(next)
	}
	r.publishStatus()
	return nil
}

// transition moves to another phase: it applies change to a copy of the
// state, saves it (see saveWhile) and passes the named crash point.
func (r *Runner) transition(to store.Phase, point string, change func(*store.State), work ...func() error) error {
	return r.saveWhile(r.changed(to, change), point, work...)
}

// checkpoint saves progress that keeps the phase.
func (r *Runner) checkpoint(point string, change func(*store.State), work ...func() error) error {
	return r.saveWhile(r.changed(r.st.Phase, change), point, work...)
}

// changed is the current state with change applied and the phase set.
func (r *Runner) changed(to store.Phase, change func(*store.State)) store.State {
	next := r.st
	next.Orphans = slices.Clone(r.st.Orphans)
	change(&next)
	next.Phase = to
	return next
}

// saveWhile is the one place where the network or the disk works beside a
// save: the work runs during it. The work needs nothing the save records,
// and the next step needs both (the call, or the files the new state
// names); the crash point passes once both are done. A power cut between
// the two leaves a state that names a file not yet durable, which the
// handlers treat as unusable: at most the certificate being recorded is
// lost, as with the writes in sequence. A failed save is reported first;
// then the first failed work.
func (r *Runner) saveWhile(next store.State, point string, work ...func() error) error {
	jobs := start(work...)
	err := r.save(next)
	if werr := join(jobs); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	r.crashPoint(point)
	return nil
}

// beginCall saves the attempt record before a service call (beforeCall),
// unless the save that preceded the call carried it. A failed save is only
// logged: the call is still worth making.
func (r *Runner) beginCall() {
	if r.st.Calling {
		return
	}
	if err := r.save(r.beforeCall(r.st)); err != nil {
		r.log.Warn("cannot save the attempt before calling the service", zap.Error(err))
	}
}

// beforeCall is beforeCall with the runner's clock and backoff.
// The call is made with the claim just chosen, which the state names.
func (r *Runner) beforeCall(s store.State) store.State {
	s = beforeCall(s, r.clock.Now(), r.backoff.ceiling)
	if r.chosen != nil {
		s.Claim = r.chosen.inUse
	}
	return s
}

// failed decides how long to wait after err and saves that decision
// (NextAttemptAt) before waiting, so that a restart honours it.
func (r *Runner) failed(err error) {
	r.closeSession()
	f := failureOf(err)
	next := afterFailure(r.st, f, r.clock.Now(), r.retryWait)
	if serr := r.save(next); serr != nil {
		// Keep going: the wait still protects the service while this
		// process lives. Only here may memory run ahead of the disk.
		r.log.Error("cannot save the retry schedule", zap.Error(serr))
		r.st = next
		r.publishStatus()
	}
	r.log.Warn("attempt failed", append(r.fields(),
		zap.String("operation", f.op),
		zap.String("kind", f.kind.String()),
		zap.String("error", f.text),
		zap.Duration("retryIn", next.NextAttemptAt.Sub(r.clock.Now())))...)
	r.crashPoint(PointRetryScheduled)
}
