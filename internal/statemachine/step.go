package statemachine

import (
	"context"

	"github.com/provisiond/provisiond/internal/store"
)

// action is what the runner does next: one per sub-state of the diagram in
// docs/ARCHITECTURE.md. A new sub-state (a rotation, a verification) is a
// new action here, with its case in next and in do. Where a key is kept
// is not a sub-state: every key store makes its key in makeKey.
type action int

const (
	// waitForClock: the last attempt failed on the device's clock; the
	// attempt it stopped is made again once the wait is over.
	waitForClock action = iota
	// awaitClaim: the last attempt found no usable claim (all expired or
	// refused, or a temporary claim not handed over yet): nothing is sent
	// until a claim or the config changes, or the long wait ends; then the
	// attempt it stopped is made again.
	awaitClaim
	// makeKey: unprovisioned, CSR method, no key recorded for this
	// identity: the key store makes it, recorded before the CSR is sent.
	makeKey
	// getCertificate: unprovisioned, the key (if any) recorded.
	getCertificate
	// register: cert-pending, RegisterThing not answered yet.
	register
	// proveAndHandOver: cert-pending, registered; the new identity is yet
	// to connect once and to be written to credentials.json.
	proveAndHandOver
	// keepHandoff: registered; credentials.json must keep describing it,
	// and the identity waits for its rotation or verification (idle).
	// A rotation due, or an identity the service refused, goes back to
	// unprovisioned with Renewal set: the actions above, make-before-break.
	keepHandoff
	// verify: registered, a proving connect with the identity is due.
	verify
)

// keyOrigin is where a new identity's private key comes from.
type keyOrigin int

const (
	keyFromService keyOrigin = iota // create-keys: the service sends it
	keyMadeHere                     // CSR: the key store makes it
)

// next derives the sub-state, and so the next action, from the saved state
// alone: a restart resumes where the state says. keys only tells the key
// making sub-states from getCertificate.
func next(s store.State, keys keyOrigin) action {
	switch {
	case s.Phase == store.Registered && s.Verifying:
		return verify
	case s.Phase == store.Registered:
		return keepHandoff
	case s.LastErrorKind == store.KindClock:
		return waitForClock
	case s.LastErrorKind == store.KindClaim && s.Phase != store.Registered:
		return awaitClaim
	case s.Phase == store.CertPending && s.ThingName != "":
		return proveAndHandOver
	case s.Phase == store.CertPending:
		return register
	case keys == keyMadeHere && s.KeyRef.IsZero():
		return makeKey
	default:
		return getCertificate
	}
}

// loop runs the action the saved state calls for until ctx is done.
func (r *Runner) loop(ctx context.Context) {
	for ctx.Err() == nil {
		r.serveRequestFile()
		switch a := r.next(); a {
		case keepHandoff:
			r.keepHandoff()
			if r.next() == keepHandoff {
				r.idle(ctx)
			}
		case verify:
			r.attempt(ctx, a)
		default:
			if !r.sleep(ctx) {
				return
			}
			r.attempt(ctx, a)
		}
	}
}

func (r *Runner) next() action { return next(r.st, r.keyOrigin()) }

func (r *Runner) keyOrigin() keyOrigin {
	if r.set.Method == MethodCSR {
		return keyMadeHere
	}
	return keyFromService
}

// attempt makes one provisioning attempt and records its failure.
func (r *Runner) attempt(ctx context.Context, a action) {
	r.busySince.Store(int64(r.elapsed()) + 1)
	defer r.busySince.Store(0)
	if r.st.Attempts > 0 || a == waitForClock {
		r.publishStatus()
	}
	err := r.do(ctx, a)
	if err == nil {
		return
	}
	if ctx.Err() != nil {
		// Stopping: an interrupted call is not a failure of the service.
		r.closeSession()
		return
	}
	r.failed(err)
}

// do runs the handler of a provisioning action.
func (r *Runner) do(ctx context.Context, a action) error {
	switch a {
	case waitForClock, awaitClaim:
		// A plausible clock shows only in a handshake, and a claim in the
		// choice the attempt makes: the attempt they stopped is made again.
		s := r.st
		s.LastErrorKind = ""
		return r.do(ctx, next(s, r.keyOrigin()))
	case makeKey, getCertificate:
		return r.obtainCertificate(ctx)
	case register:
		return r.register(ctx)
	case proveAndHandOver:
		return r.proveAndHandOver(ctx)
	case verify:
		return r.verify(ctx)
	}
	return nil
}
