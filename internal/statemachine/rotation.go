package statemachine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/rotation"
	"github.com/provisiond/provisiond/internal/store"
)

// Rotation and verification are sub-states of registered (see next): the
// identity waits for its due time on one timer (idle), a verification due
// is saved (Verifying) and then made (verify), and a rotation, or an
// identity the service refused, goes back to unprovisioned with Renewal
// saying why, while credentials.json keeps naming the old identity until
// the new one is proven and handed over.

// Crash points of rotation and verification.
const (
	PointRotationStarted = "rotation-started" // rotation decided: unprovisioned, the old identity still handed over
	PointVerifyDue       = "verify-due"       // a verification recorded as due
	PointVerified        = "verified"         // its result recorded, the identity kept
	PointRefused         = "refused"          // the service refused the identity: unprovisioned, the old one still handed over
)

// plans are the times idle last planned to wake for the current
// certificate: a wake-up on such a timer acts even if it comes late (see
// rotation.Schedule.Decide). In memory only: a restart decides afresh.
type plans struct {
	certificateID    string
	rotate, verify   time.Time
	noScheduleLogged bool
}

// identityOf is what the schedules of the identity in s are computed from.
func (r *Runner) identityOf(s store.State) (rotation.Identity, bool) {
	if s.CertificateFile == "" {
		return rotation.Identity{}, false
	}
	data, err := r.files.Read(s.CertificateFile)
	if err != nil {
		return rotation.Identity{}, false
	}
	cert, err := keypair.Certificate(data)
	if err != nil {
		return rotation.Identity{}, false
	}
	return rotation.Identity{Key: s.CertificateID, ProvisionedAt: s.ProvisionedAt,
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter}, true
}

// rotationDue is the due time of the identity in s under the policy: zero
// when no policy applies or it cannot (reported once per identity).
func (r *Runner) rotationDue(s store.State) (rotation.Schedule, bool) {
	if !r.set.Rotation.Enabled() {
		return rotation.Schedule{}, false
	}
	id, ok := r.identityOf(s)
	if !ok {
		return rotation.Schedule{}, false
	}
	sched, ok, err := r.set.Rotation.Due(id)
	if err != nil {
		r.plansFor(s.CertificateID)
		if !r.planned.noScheduleLogged {
			r.planned.noScheduleLogged = true
			r.log.Warn("the identity is not rotated by the policy", append(r.fields(), zap.Error(err))...)
		}
		return rotation.Schedule{}, false
	}
	return sched, ok
}

func dueAt(sched rotation.Schedule, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	return sched.At.UTC()
}

// plansFor resets the plans when the certificate changed.
func (r *Runner) plansFor(certificateID string) {
	if r.planned.certificateID != certificateID {
		r.planned = plans{certificateID: certificateID}
	}
}

// refreshRotationDue saves the registered identity's due time when the
// policy (a new config) or an older state gives another one than saved.
func (r *Runner) refreshRotationDue() {
	if r.st.Phase != store.Registered {
		return
	}
	due := dueAt(r.rotationDue(r.st))
	if due.Equal(r.st.RotationDueAt) {
		return
	}
	if err := r.checkpoint("", func(s *store.State) { s.RotationDueAt = due }); err != nil {
		r.log.Warn("cannot save the rotation's due time", zap.Error(err))
	}
}

// scheduled decides the registered identity's timed duties. It starts a
// rotation, or records a verification, that is due, and reports true;
// otherwise it returns when to decide again (zero: nothing timed, or a
// clock to wait for, whose setting kicks the runner).
func (r *Runner) scheduled() (acted bool, wake time.Time) {
	r.plansFor(r.st.CertificateID)
	now := r.clock.Now()
	if sched, ok := r.rotationDue(r.st); ok {
		d := sched.Decide(now, r.planned.rotate)
		switch d.Action {
		case rotation.Act:
			r.log.Info("rotation due", append(r.fields(), zap.String("rule", sched.Rule),
				zap.Time("dueAt", sched.At), zap.Bool("late", d.Late))...)
			r.startReprovision("rotation due ("+sched.Rule+")", store.RenewalRotation, PointRotationStarted)
			return true, time.Time{}
		case rotation.Wait:
			r.planned.rotate, wake = d.At, d.At
		}
	}
	if r.set.VerifyEvery > 0 {
		id, ok := r.identityOf(r.st)
		if !ok {
			return false, wake
		}
		d := rotation.VerifySchedule(id, r.st.VerifiedAt, r.set.VerifyEvery).Decide(now, r.planned.verify)
		switch d.Action {
		case rotation.Act:
			return r.verificationDue("verify_every"), wake
		case rotation.Wait:
			r.planned.verify = d.At
			if wake.IsZero() || d.At.Before(wake) {
				wake = d.At
			}
		}
	}
	return false, wake
}

// verificationDue records that the identity is to be proven (the verify
// sub-state); it reports whether that was saved.
func (r *Runner) verificationDue(why string) bool {
	if r.st.Verifying {
		return true
	}
	if err := r.checkpoint(PointVerifyDue, func(s *store.State) { s.Verifying = true }); err != nil {
		r.log.Warn("cannot record the verification", zap.Error(err))
		return false
	}
	r.log.Info("verifying the identity with the service", append(r.fields(), zap.String("why", why))...)
	return true
}

// verify is the verify sub-state's handler: one proving connect with the
// current identity. A refusal by the service gives the identity up and
// gets a new one through the claim; anything else, a network failure
// included, keeps it.
func (r *Runner) verify(ctx context.Context) error {
	certPEM, err := r.identityFiles()
	if err == nil {
		err = r.prove(ctx, r.st.ThingName, r.st.KeyRef, certPEM)
		if ctx.Err() != nil {
			return nil // stopping: the verification stays due
		}
		if reason, refused := fleet.Refused(err); refused {
			r.log.Warn("identity refused by the service (revoked?): reprovisioning through the claim",
				append(r.fields(), zap.String("reason", reason))...)
			r.startReprovision("refused by the service: "+reason, store.RenewalRefused, PointRefused)
			r.removeFile(store.VerifyRequestFile)
			return nil
		}
	}
	result := store.VerifyAccepted
	if err != nil {
		// Unusable files are keepHandoff's business; a network failure
		// says nothing about the identity.
		result = store.VerifyUnreachable
		r.log.Warn("could not verify the identity: keeping it", append(r.fields(), zap.Error(err))...)
	} else {
		r.log.Info("identity verified: the service accepts it", r.fields()...)
	}
	now := r.clock.Now()
	if err := r.checkpoint(PointVerified, func(s *store.State) {
		s.Verifying = false
		s.VerifiedAt = now
		s.VerifyResult = result
	}); err != nil {
		return err
	}
	r.removeFile(store.VerifyRequestFile)
	return nil
}

// serveVerifyRequest serves a store.VerifyRequestFile; it reports whether there
// was one.
func (r *Runner) serveVerifyRequest() bool {
	if !r.exists(store.VerifyRequestFile) {
		return false
	}
	if r.st.Phase != store.Registered || r.verificationDue("requested") {
		// Persisted, or a new identity is on its way already.
		r.removeFile(store.VerifyRequestFile)
	}
	return true
}

// dialFunc opens a provisioning session and says what it registers with.
type dialFunc func(ctx context.Context) (s Session, info sessionInfo, err error)

// sessionInfo is what a session registers with: the template, and the claim
// it was opened with (nil over the device's own identity).
type sessionInfo struct {
	template string
	claim    *claims.Claim
}

// sessionCredential is how the next provisioning session connects: with
// the device's handed-over identity during a rotation with
// rotation.credential: device, registering with rotation.template;
// otherwise, or when the service refuses that identity, with the claim and
// template.name. It runs on the Run goroutine, so that the dial beside a
// save reads no state.
func (r *Runner) sessionCredential() dialFunc {
	chosen, chooseErr := r.chooseClaim()
	r.chosen = chosen
	claim := r.claimDial(chosen, chooseErr)
	dc, ok := r.deviceCredential()
	if !ok {
		return claim
	}
	template := r.set.RotationTemplate
	return func(ctx context.Context) (Session, sessionInfo, error) {
		certPEM, err := r.files.Read(dc.certFile)
		if err != nil {
			return nil, sessionInfo{}, err
		}
		key, err := r.keys.Load(dc.key)
		if errors.Is(err, keystore.ErrUnusable) {
			r.log.Warn("the device identity's key is unusable for the rotation: using the claim", zap.Error(err))
			return claim(ctx)
		}
		if err != nil {
			return nil, sessionInfo{}, fmt.Errorf("device identity: %w", err)
		}
		cert, err := key.TLSCertificate(certPEM)
		if err != nil {
			return nil, sessionInfo{}, fmt.Errorf("device identity: %w", err)
		}
		s, err := r.dialer.DialDevice(ctx, dc.thing, template, cert)
		if reason, refused := fleet.Refused(err); refused {
			// The old identity is refused: only the claim can help.
			r.log.Warn("the device certificate is refused for the rotation: using the claim",
				zap.String("reason", reason))
			return claim(ctx)
		}
		if err != nil {
			if signErr := key.SignError(); signErr != nil {
				return nil, sessionInfo{}, signErr // the handshake's error only quotes it
			}
		}
		return s, sessionInfo{template: template}, err
	}
}

// deviceCredential is the handed-over identity that a rotation with
// rotation.credential: device dials with.
type deviceCredential struct {
	key             store.KeyRef
	certFile, thing string
}

// deviceCredential is the identity the next session dials with, if a
// rotation over the device's own identity is under way.
func (r *Runner) deviceCredential() (deviceCredential, bool) {
	if r.set.RotationTemplate == "" || r.st.Renewal != store.RenewalRotation || r.st.HandedOver == 0 {
		return deviceCredential{}, false
	}
	handed, err := r.handedOver()
	n := r.st.HandedOver
	if err != nil || !r.namesIdentity(handed, n) {
		return deviceCredential{}, false
	}
	key := r.st.HandedOverKey
	for _, name := range store.KeyFileNames {
		// A state saved before handedOverKey: credentials.json names the file.
		if key.IsZero() && r.files.Path(store.IdentityFile(n, name)) == handed.PrivateKeyFile {
			key = store.KeyRef{KeyFile: store.IdentityFile(n, name)}
		}
	}
	if key.IsZero() {
		return deviceCredential{}, false
	}
	return deviceCredential{key: key, certFile: store.IdentityFile(n, store.CertificateFileName), thing: handed.ThingName}, true
}
