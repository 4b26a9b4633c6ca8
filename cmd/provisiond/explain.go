package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"

	"github.com/provisiond/provisiond/internal/check"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/statemachine"
)

// explainingDialer names the failed step of each claim session and proving
// connect in `provisiond check`'s words, so that status says what check
// would ("TLS: server certificate not trusted by root_ca …"). The state
// machine keeps the words in its failure record (lastStep).
type explainingDialer struct{ statemachine.Dialer }

func (d explainingDialer) Dial(ctx context.Context) (statemachine.Session, error) {
	s, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, explained(err, check.Explain)
	}
	return explainingSession{s}, nil
}

func (d explainingDialer) Prove(ctx context.Context, thingName string, cert tls.Certificate) error {
	return explained(d.Dialer.Prove(ctx, thingName, cert), check.ExplainIdentity)
}

// DialDevice explains a session dialled with the device certificate
// (rotation.credential: device).
func (d explainingDialer) DialDevice(ctx context.Context, thingName, template string, cert tls.Certificate) (statemachine.Session, error) {
	s, err := d.Dialer.DialDevice(ctx, thingName, template, cert)
	if err != nil {
		return nil, explained(err, check.ExplainIdentity)
	}
	return explainingSession{s}, nil
}

// explainingSession explains a claim session's calls.
type explainingSession struct{ statemachine.Session }

func (s explainingSession) CreateKeysAndCertificate(ctx context.Context) (*fleet.Issued, error) {
	iss, err := s.Session.CreateKeysAndCertificate(ctx)
	return iss, explained(err, check.Explain)
}

func (s explainingSession) CreateCertificateFromCSR(ctx context.Context, csrPEM []byte, key crypto.Signer) (*fleet.Issued, error) {
	iss, err := s.Session.CreateCertificateFromCSR(ctx, csrPEM, key)
	return iss, explained(err, check.Explain)
}

func (s explainingSession) RegisterThing(ctx context.Context, template, token string, parameters map[string]string) (*fleet.Registration, error) {
	reg, err := s.Session.RegisterThing(ctx, template, token, parameters)
	return reg, explained(err, check.Explain)
}

// ClientID passes on the session's client id, which an attestation
// statement names.
func (s explainingSession) ClientID() string {
	if c, ok := s.Session.(statemachine.ClientIdentified); ok {
		return c.ClientID()
	}
	return ""
}

// explained is err with its step, when explain recognises one. A service's
// rejection is left as it is: its status code and message are the most
// precise words, and check, which calls nothing, has none better.
func explained(err error, explain func(error) check.Finding) error {
	var rej *fleet.RejectedError
	if err == nil || errors.As(err, &rej) {
		return err
	}
	f := explain(err)
	if !f.Explained() {
		return err
	}
	return &steppedError{err: err, step: f.String()}
}

// steppedError is an error with check's words for its step. Its text stays
// the library's: lastError keeps that, lastStep the words.
type steppedError struct {
	err  error
	step string
}

func (e *steppedError) Error() string { return e.err.Error() }
func (e *steppedError) Unwrap() error { return e.err }
func (e *steppedError) Step() string  { return e.step }
