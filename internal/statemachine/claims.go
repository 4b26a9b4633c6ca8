package statemachine

import (
	"context"
	"maps"
	"slices"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/store"
)

// AwaitingClaimText is status's words while the config takes a temporary
// claim and none has been handed over.
const AwaitingClaimText = "awaiting a temporary claim (provisiond claim import)"

// noClaimError is an attempt that found no claim to provision with: nothing
// is sent to the service. text is status's words for it; retryAfter is when
// the choice may change without a file changing (a claim becomes valid, or a
// refused claim is tried again); zero waits for the claim files or the drop
// folder to change, or retry.permanent.
type noClaimError struct {
	text string
	// expired is the temporary claim that ran out unused, which the state
	// names so that `claim import --wait` can tell its outcome.
	expired *store.ClaimInUse
}

func (e *noClaimError) Error() string { return e.text }

// claimRefusedError is the service refusing a claim at the handshake or
// CONNECT: the claim is passed over from now on, and the next one tried at
// once.
type claimRefusedError struct {
	certificateID string
	err           error
}

func (e *claimRefusedError) Error() string { return "claim refused: " + e.err.Error() }
func (e *claimRefusedError) Unwrap() error { return e.err }

// chosenClaim is the claim the next session uses, as beforeCall saves it.
type chosenClaim struct {
	claim claims.Claim
	inUse *store.ClaimInUse
}

// chooseClaim judges the claims the dialer lists, as internal/claims says,
// on the Run goroutine. A temporary claim found expired is removed (it can
// never be used); the caller reports a nil choice's error.
func (r *Runner) chooseClaim() (*chosenClaim, error) {
	list := r.dialer.Claims()
	now := r.clock.Now()
	plausible := r.st.LastErrorKind != store.KindClock
	d := claims.Choose(list, r.refused(), now, plausible)
	if d.Use < 0 && d.Retry() >= 0 && !now.Before(r.st.NextAttemptAt) {
		// Only refused claims are left and the long wait after the refusal
		// is over: an operator may have made one ACTIVE again, and a claim
		// refused for ever would brick the device.
		r.log.Info("trying the refused claims again after the wait", zap.Int("claims", len(r.st.RefusedClaims)))
		if err := r.checkpoint("", func(s *store.State) { s.RefusedClaims = nil }); err != nil {
			return nil, err
		}
		d = claims.Choose(list, nil, now, plausible)
	}
	passed := claims.PassedText(list, d)
	for _, p := range d.Passed {
		if c := list[p.Index]; c.Temporary && p.Reason == claims.Expired {
			r.log.Warn("the temporary claim expired before it was used: removing it",
				zap.String("claim", c.CertificateID), zap.Time("notAfter", c.NotAfter))
			if err := r.files.Remove(c.Ref); err != nil {
				r.log.Warn("cannot remove the expired temporary claim", zap.Error(err))
			}
		}
	}
	if d.Use < 0 {
		return nil, noClaim(list, d, r.set.ClaimImport)
	}
	c := list[d.Use]
	inUse := &store.ClaimInUse{Name: c.Name, CertificateID: c.CertificateID, PassedOver: passed}
	if c.Temporary {
		inUse.Drop = c.Ref
	}
	if prev := r.st.Claim; prev == nil || prev.CertificateID != inUse.CertificateID {
		r.log.Info("provisioning with a claim", zap.String("claim", c.Name),
			zap.String("certificateId", c.CertificateID), zap.String("passedOver", passed))
	}
	return &chosenClaim{claim: c, inUse: inUse}, nil
}

// noClaim words why no claim is usable.
func noClaim(list []claims.Claim, d claims.Decision, awaitsImport bool) *noClaimError {
	passed := claims.PassedText(list, d)
	var expired *noClaimError
	for _, p := range d.Passed {
		if c := list[p.Index]; c.Temporary && p.Reason == claims.Expired {
			expired = &noClaimError{text: claims.TemporaryExpiredText(c.NotAfter),
				expired: &store.ClaimInUse{Name: c.Name, CertificateID: c.CertificateID, PassedOver: passed}}
		}
	}
	switch {
	case expired != nil:
		return expired
	case d.AllExpired() && !awaitsImport:
		return &noClaimError{text: claims.AllExpiredText + " (" + passed + ")"}
	case d.Retry() >= 0:
		return &noClaimError{text: "every claim was refused by the service (" + passed + "); trying again after retry.permanent"}
	case awaitsImport && passed == "":
		return &noClaimError{text: AwaitingClaimText}
	case awaitsImport:
		return &noClaimError{text: AwaitingClaimText + "; passed over: " + passed}
	case passed == "":
		return &noClaimError{text: "no claim is configured"}
	}
	return &noClaimError{text: "no claim is usable: " + passed}
}

// claimDial is the session dial with the chosen claim; a refusal names the
// claim, so that the next attempt passes over it.
func (r *Runner) claimDial(chosen *chosenClaim, chooseErr error) dialFunc {
	return func(ctx context.Context) (Session, sessionInfo, error) {
		if chooseErr != nil {
			return nil, sessionInfo{}, chooseErr
		}
		s, err := r.dialer.Dial(ctx, chosen.claim)
		if _, refused := fleet.Refused(err); refused {
			return nil, sessionInfo{}, &claimRefusedError{certificateID: chosen.claim.CertificateID, err: err}
		}
		info := sessionInfo{template: r.set.Template, claim: &chosen.claim}
		if chosen.claim.Template != "" {
			info.template = chosen.claim.Template
		}
		return s, info, err
	}
}

// parameters are RegisterThing's template parameters: the config's, and
// those the session's temporary claim brought (which the config allowed).
func (r *Runner) parameters() map[string]string {
	if r.sessionClaim == nil || len(r.sessionClaim.Parameters) == 0 {
		return r.set.Parameters
	}
	p := maps.Clone(r.set.Parameters)
	if p == nil {
		p = map[string]string{}
	}
	maps.Copy(p, r.sessionClaim.Parameters)
	return p
}

// claimWorkDone removes the temporary claim that got the identity now handed
// over: it is used, and a drop left behind would be used again.
// It runs in registered, so that a restart after the handoff removes it too.
func (r *Runner) claimWorkDone() {
	c := r.st.Claim
	if c == nil || c.Drop == "" {
		return
	}
	if err := r.files.Remove(c.Drop); err != nil {
		r.log.Warn("cannot remove the used temporary claim", zap.String("file", r.files.Path(c.Drop)), zap.Error(err))
		return
	}
	r.log.Info("removed the used temporary claim", zap.String("claim", c.CertificateID))
	used := *c
	used.Drop = ""
	if err := r.checkpoint("", func(s *store.State) { s.Claim = &used }); err != nil {
		r.log.Warn("cannot record the used temporary claim's removal", zap.Error(err))
	}
}

// claimArrived reports whether a claim is usable while the runner awaits
// one: the state folder's own changes (every save) must not wake it.
func (r *Runner) claimArrived() bool {
	if r.st.LastErrorKind != store.KindClaim {
		return false
	}
	return claims.Choose(r.dialer.Claims(), r.refused(), r.clock.Now(), true).Use >= 0
}

// refused is the set of claims the service refused.
func (r *Runner) refused() map[string]bool {
	refused := map[string]bool{}
	for _, id := range r.st.RefusedClaims {
		refused[id] = true
	}
	return refused
}

// anotherClaimUsable reports whether a claim other than the refused one
// would be chosen now: then it is tried at once instead of after the wait.
func (r *Runner) anotherClaimUsable(refusedID string) bool {
	refused := r.refused()
	refused[refusedID] = true
	return claims.Choose(r.dialer.Claims(), refused, r.clock.Now(), true).Use >= 0
}

// withRefusal is s with a refused claim recorded once.
func withRefusal(s store.State, certificateID string) store.State {
	if certificateID == "" || slices.Contains(s.RefusedClaims, certificateID) {
		return s
	}
	s.RefusedClaims = append(slices.Clone(s.RefusedClaims), certificateID)
	return s
}
