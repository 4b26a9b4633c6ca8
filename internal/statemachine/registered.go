package statemachine

import (
	"errors"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/store"
)

// keepHandoff makes sure credentials.json describes the registered identity,
// restoring it from the state when it is missing or damaged, and that its
// key is kept where consumers look for it (see keepKey). When the
// identity's own files are gone, only a new identity can help. A failure
// is retried on the backoff timer (see idle), not on the next change in the
// folder: a failed write's own temp files would make that a busy loop.
func (r *Runner) keepHandoff() {
	r.claimWorkDone()
	failures := r.restoreFailures
	if !r.restoreHandoff() || r.keyKept {
		return
	}
	if err := r.keepKey(); err != nil {
		r.restoreFailures = failures + 1
		r.log.Error("cannot keep the identity's key", zap.Error(err))
	}
}

// restoreHandoff is keepHandoff's credentials.json part; it reports
// whether the handoff is in place.
func (r *Runner) restoreHandoff() bool {
	if _, err := r.identityFiles(); err != nil {
		var bad *unusableError
		if errors.As(err, &bad) {
			r.restoreFailures = 0
			r.startReprovision("identity files unusable: "+err.Error(), "", PointReprovisioned)
			return false
		}
		r.restoreFailures++
		r.log.Error("cannot read the registered identity", zap.Error(err))
		return false
	}
	want := r.credentials()
	handed, err := r.handedOver()
	if err == nil && handed.Equal(want) {
		r.restoreFailures = 0
		if !r.oldIdentitiesChecked {
			// A stop between the handoff and the clean-up left them.
			r.removeOldIdentities(handed)
		}
		return true
	}
	if err != nil {
		r.log.Warn("cannot read credentials.json", zap.Error(err))
	}
	if err := store.WriteCredentials(r.files, want); err != nil {
		r.restoreFailures++
		r.log.Error("cannot restore credentials.json", zap.Error(err))
		r.recordHandoffFailure(err)
		return false
	}
	r.restoreFailures = 0
	r.log.Info("credentials.json restored", r.fields()...)
	r.crashPoint(PointRestored)
	r.recordHandoffFailure(nil)
	return true
}

// opRestoreCredentials is the operation a registered device records while
// credentials.json cannot be written: the identity is the device's, but
// consumers cannot see it, and status must say so.
const opRestoreCredentials = "write credentials"

// recordHandoffFailure saves (err) or clears (nil) the failure to write
// credentials.json in the state, so that status words it. A state that
// cannot be saved either keeps the failure in memory, where the service
// manager's status shows it.
func (r *Runner) recordHandoffFailure(err error) {
	if err == nil && r.st.LastOperation != opRestoreCredentials {
		return
	}
	next := progressed(r.st)
	if err != nil {
		if next.LastError = opRestoreCredentials + ": " + err.Error(); next.LastError == r.st.LastError {
			return
		}
		next.LastOperation, next.LastErrorKind = opRestoreCredentials, store.KindTransient
	}
	if serr := r.save(next); serr != nil {
		r.log.Warn("cannot save the credentials.json failure in the state either", zap.Error(serr))
		r.st = next
		r.publishStatus()
	}
}

// startReprovision gives up the registered identity and starts getting a
// new one. credentials.json keeps naming the old, unchanged files until the
// new identity replaces it. renewal (store.State.Renewal) says why, for a
// rotation or a refusal; point is the crash point of the transition.
func (r *Runner) startReprovision(reason string, renewal store.Renewal, point string) {
	if r.st.Phase != store.Registered {
		return
	}
	now := r.clock.Now()
	id, thing := r.st.CertificateID, r.st.ThingName
	r.log.Info("reprovisioning", append(r.fields(), zap.String("reason", reason))...)
	err := r.transition(store.Unprovisioned, point, func(s *store.State) {
		addOrphan(s, id, reason+" (was "+thing+")", now)
		forgetIdentity(s)
		*s = succeeded(*s)
		s.Renewal = renewal
	})
	if err != nil {
		r.log.Error("cannot start reprovisioning", zap.Error(err))
		return
	}
	r.removeFile(store.ReprovisionRequestFile)
}

// serveRequestFile serves a store.ReprovisionRequestFile or a
// store.VerifyRequestFile
// left in the state directory. It reports whether there was one.
func (r *Runner) serveRequestFile() bool {
	verify := r.serveVerifyRequest()
	if !r.exists(store.ReprovisionRequestFile) {
		return verify
	}
	if r.st.Phase == store.Registered {
		r.startReprovision("reprovision requested", "", PointReprovisioned)
	} else {
		// A new identity is on its way already.
		r.removeFile(store.ReprovisionRequestFile)
	}
	return true
}

// removeFile removes a served request file.
func (r *Runner) removeFile(name string) {
	if err := r.files.Remove(name); err != nil && r.exists(name) {
		r.log.Warn("cannot remove a served request", zap.String("file", name), zap.Error(err))
	}
}
