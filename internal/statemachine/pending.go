package statemachine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/store"
)

// absurdTokenAge is a wall-clock age past which the measurement is not
// trusted to decide alone: a clock set years ahead must not wedge the device
// on a token it could still use. RegisterThing decides instead.
const absurdTokenAge = 30 * 24 * time.Hour

const opProve = "connect with the new certificate"

// register is the cert-pending handler before RegisterThing answered: it
// registers once per token, then proves the new identity and hands it over.
func (r *Runner) register(ctx context.Context) error {
	certPEM, err := r.identityFiles()
	if err != nil {
		return r.unusable(err)
	}
	if age, known := r.tokenAge(); known && age > r.set.Retry.TokenSafeLifetime {
		return r.abandonCertificate(fmt.Sprintf("ownership token expired: %s old, safe lifetime %s",
			shortDuration(age), shortDuration(r.set.Retry.TokenSafeLifetime)), nil)
	}
	dial := r.dialAhead(ctx)
	defer dial.Abort()
	r.beginCall()
	sess, err := dial.Wait()
	if err != nil {
		return err
	}
	params, err := r.registrationParameters(sess, certPEM)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, r.set.Retry.ResponseTimeout)
	reg, err := sess.RegisterThing(callCtx, r.sessionTemplate, r.st.OwnershipToken, params)
	cancel()
	if err != nil {
		err = serviceErr(string(fleet.OpRegisterThing), err)
		if ctx.Err() == nil && fleet.Classify(err) == fleet.KindInvalidToken {
			r.closeSession()
			f := failureOf(err)
			return r.abandonCertificate(f.text, &f)
		}
		return err
	}
	if reg == nil || reg.ThingName == "" {
		return serviceErr(string(fleet.OpRegisterThing), errors.New("accepted answer without a thing name"))
	}
	// The claim session has done its job.
	r.closeSession()
	// The new identity is proved while its registration, and the proof's
	// attempt, are saved.
	var proveErr error
	key := r.st.KeyRef
	err = r.checkpoint(PointRegistrationSaved, func(s *store.State) {
		*s = r.beforeCall(succeeded(*s))
		s.ThingName = reg.ThingName
		s.DeviceConfiguration = maps.Clone(reg.DeviceConfiguration)
		s.OwnershipToken = "" // spent: keep no secret longer than needed
	}, func() error {
		proveErr = r.prove(ctx, reg.ThingName, key, certPEM)
		return nil
	})
	if err != nil {
		return err
	}
	r.log.Info("thing registered", r.fields()...)
	if proveErr != nil {
		return r.proofFailed(proveErr, certPEM)
	}
	return r.handOver()
}

// proveAndHandOver is the cert-pending handler once registered: it proves
// the new identity and hands it over.
func (r *Runner) proveAndHandOver(ctx context.Context) error {
	certPEM, err := r.identityFiles()
	if err != nil {
		return r.unusable(err)
	}
	r.beginCall()
	if err := r.prove(ctx, r.st.ThingName, r.st.KeyRef, certPEM); err != nil {
		return r.proofFailed(err, certPEM)
	}
	return r.handOver()
}

// proofFailed is the outcome of a failed proof of a new identity. A
// certificate that expired before it could be proven (a short-lived one,
// and a power cut or an outage longer than its life) is refused for ever:
// it is abandoned for a new one. Both must hold, the service's refusal and
// the device's clock past its end, so that neither a clock running ahead
// nor a refusal for another reason throws away a certificate that can
// still work; anything else is retried as before.
func (r *Runner) proofFailed(err error, certPEM []byte) error {
	err = serviceErr(opProve, err)
	cert, perr := keypair.Certificate(certPEM)
	if perr != nil {
		return err
	}
	if _, refused := fleet.Refused(err); refused && r.clock.Now().After(cert.NotAfter) {
		f := failureOf(err)
		return r.abandonCertificate(fmt.Sprintf("certificate expired at %s before it was proven; %s",
			cert.NotAfter.UTC().Format(time.RFC3339), f.text), &f)
	}
	return err
}

// handOver writes credentials.json for the proved identity and moves to
// registered. The identity the previous credentials.json named is kept for
// consumers that read it a moment ago (see removeOldIdentities).
func (r *Runner) handOver() error {
	provisionedAt := r.clock.Now().UTC().Truncate(time.Second)
	retiring := r.st.HandedOver
	if retiring == 0 {
		// A state from before handedOver: credentials.json, read before it
		// is replaced, says.
		if previous, err := r.handedOver(); err == nil {
			retiring = r.identityNamedBy(previous)
		}
	}
	if err := r.keepKey(); err != nil {
		return err
	}
	creds := r.credentials()
	creds.ProvisionedAt = provisionedAt
	if err := store.WriteCredentials(r.files, creds); err != nil {
		return localErr("write credentials", err)
	}
	r.crashPoint(PointCredentials)
	handed := r.st
	handed.ProvisionedAt = provisionedAt
	due := dueAt(r.rotationDue(handed))
	err := r.transition(store.Registered, PointRegistered, func(s *store.State) {
		*s = succeeded(*s)
		s.ProvisionedAt = provisionedAt
		// Proven just now, and scheduled in the same save.
		s.RotationDueAt = due
		s.Renewal = ""
		s.Verifying = false
		s.VerifiedAt, s.VerifyResult = provisionedAt, store.VerifyAccepted
		s.Retired = 0
		if retiring != s.Identity {
			s.Retired = retiring
		}
		s.HandedOver, s.HandedOverKey = s.Identity, s.KeyRef
	})
	if err != nil {
		return err
	}
	r.log.Info("provisioned: credentials handed over", append(r.fields(),
		zap.String("credentials", r.files.Path(store.CredentialsFile)))...)
	r.removeOldIdentities(creds) // just written: no need to read it back
	return nil
}

// unusable turns an identityFiles error into the step's outcome: files
// that are missing or do not pair leave only a new identity.
func (r *Runner) unusable(err error) error {
	var bad *unusableError
	if errors.As(err, &bad) {
		return r.abandonCertificate("identity files unusable: "+err.Error(), nil)
	}
	return localErr("read identity", err)
}

// tokenAge measures the ownership token's age: on the boot clock when the
// device has not rebooted since it was issued (immune to wall-clock jumps),
// on the wall clock otherwise. A negative or absurd wall-clock age is
// reported as unknown.
func (r *Runner) tokenAge() (time.Duration, bool) {
	if r.st.TokenBootID != "" {
		id, since, err := r.boot.Boot()
		if err == nil && id == r.st.TokenBootID && since >= r.st.TokenBootTime {
			return since - r.st.TokenBootTime, true
		}
	}
	if r.st.TokenIssuedAt.IsZero() {
		return 0, false
	}
	age := r.clock.Now().Sub(r.st.TokenIssuedAt)
	if age < 0 || age > absurdTokenAge {
		r.log.Warn("the wall clock gives the ownership token an implausible age: trying it",
			append(r.fields(), zap.Duration("age", age))...)
		return age, false
	}
	return age, true
}

// abandonCertificate records the current certificate as orphaned and goes
// back to unprovisioned with a new identity number. When the service
// refused the certificate (refused), that is a failure like any other: it
// is counted and backed off, or a service that refuses every token would
// have the device request and abandon certificates in a tight loop. When
// the token merely aged out (or the files are unusable), the next attempt
// comes at once, still counted from the failures before it.
func (r *Runner) abandonCertificate(reason string, refused *failure) error {
	now := r.clock.Now()
	r.log.Warn("abandoning the certificate", append(r.fields(), zap.String("reason", reason))...)
	id, identity := r.st.CertificateID, r.st.Identity
	err := r.transition(store.Unprovisioned, PointOrphaned, func(s *store.State) {
		addOrphan(s, id, reason, now)
		forgetIdentity(s)
		if refused != nil {
			*s = counted(progressed(*s))
			s.LastOperation, s.LastErrorKind = refused.op, errorKind(refused.kind)
			s.NextAttemptAt = now.Add(r.backoff.delay(s.Attempts))
		} else {
			*s = answered(progressed(*s)) // the call recorded was not made
		}
		s.LastError = reason
	})
	if err != nil {
		return err
	}
	// No unused private key may linger. Only registered identities are
	// handed over, so credentials.json never names this one, and an
	// unreadable one is no reason to keep it. A crash before this leaves
	// harmless files behind.
	handed, _ := r.handedOver()
	r.removeIdentity(handed, identity)
	return nil
}

// unusableError says the identity's files are missing or do not form a
// pair: no retry will fix that.
type unusableError struct{ err error }

func (e *unusableError) Error() string { return e.err.Error() }
func (e *unusableError) Unwrap() error { return e.err }

// identityFiles reads the current certificate and checks that the key the
// state records is its pair. Missing or mismatched files give an
// *unusableError; other read errors may pass.
func (r *Runner) identityFiles() (certPEM []byte, err error) {
	if r.st.CertificateFile == "" || r.st.KeyRef.IsZero() {
		return nil, &unusableError{errors.New("no certificate or key recorded")}
	}
	certPEM, err = r.files.Read(r.st.CertificateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &unusableError{err}
	}
	if err != nil {
		return nil, err
	}
	if err := r.checkKey(r.st.KeyRef, certPEM); err != nil {
		return nil, err
	}
	return certPEM, nil
}

// credentials is the handoff for the current identity, ProvisionedAt from
// the state.
func (r *Runner) credentials() store.Credentials {
	dc := r.st.DeviceConfiguration
	if dc == nil {
		dc = map[string]string{}
	}
	c := store.Credentials{
		ThingName:           r.st.ThingName,
		CertificateID:       r.st.CertificateID,
		CertificateFile:     r.files.Path(r.st.CertificateFile),
		RootCAFile:          r.set.RootCAFile,
		Endpoint:            r.set.Endpoint,
		TemplateName:        r.set.Template,
		DeviceConfiguration: dc,
		ProvisionedAt:       r.st.ProvisionedAt,
	}
	r.keys.Handoff(r.st.KeyRef, &c)
	return c
}
