package fleet

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/keypair"
)

// ErrEmptyToken is RegisterThing called without an ownership token; the
// service would refuse it as InvalidCertificateOwnershipToken, so it is not sent.
var ErrEmptyToken = errors.New("certificate ownership token is empty")

// CreateKeysAndCertificate asks the service for a new key pair and certificate.
// The answer is validated; its PrivateKeyPEM is a secret.
func (c *Client) CreateKeysAndCertificate(ctx context.Context) (*Issued, error) {
	iss, err := callAccepted(c, ctx, OpCreateKeys, "", nil, ValidateCreateKeysAccepted)
	if err != nil {
		return nil, err
	}
	c.log.Debug("certificate issued", zap.String("certificateId", iss.CertificateID))
	return iss, nil
}

// CreateCertificateFromCSR sends csrPEM, which must be signed by key, and returns the
// certificate once its public key is checked against key.Public(). An accepted answer
// for another key is someone else's and is ignored.
func (c *Client) CreateCertificateFromCSR(ctx context.Context, csrPEM []byte, key crypto.Signer) (*Issued, error) {
	if key == nil {
		return nil, &OptionsError{Field: "key", Reason: "nil"}
	}
	pub := key.Public()
	if err := checkCSR(csrPEM, pub); err != nil {
		return nil, err
	}
	payload, err := Encode(c.s.Format, &CreateFromCSRRequest{CertificateSigningRequest: string(csrPEM)})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", OpCreateFromCSR, err)
	}
	iss, err := callAccepted(c, ctx, OpCreateFromCSR, "", payload,
		func(topic string, a *CreateFromCSRAccepted) (*Issued, error) {
			return ValidateCreateFromCSRAccepted(topic, a, pub)
		})
	if err != nil {
		return nil, err
	}
	c.log.Debug("certificate issued", zap.String("certificateId", iss.CertificateID))
	return iss, nil
}

// checkCSR refuses, before sending, a CSR that does not parse or is for another
// key than the one we will check the answer against.
func checkCSR(csrPEM []byte, pub crypto.PublicKey) error {
	// The signature is not checked here: the caller made the CSR with key, the
	// service checks it anyway, and a verify is the costliest step of a call.
	csr, err := keypair.CertificateRequest(csrPEM)
	if err != nil {
		return &OptionsError{Field: "csr", Reason: err.Error()}
	}
	if !publicKeysEqual(csr.PublicKey, pub) {
		return &OptionsError{Field: "csr", Reason: "its public key is not the key's"}
	}
	return nil
}

// RegisterThing provisions a thing with the template, the ownership token of the
// certificate issued on this connection or an earlier one, and optional parameters.
func (c *Client) RegisterThing(ctx context.Context, template, token string, parameters map[string]string) (*Registration, error) {
	if err := ValidateTemplateName(template); err != nil {
		return nil, &OptionsError{Field: "template", Reason: err.Error()}
	}
	if token == "" {
		return nil, fmt.Errorf("%s: %w", OpRegisterThing, ErrEmptyToken)
	}
	payload, err := Encode(c.s.Format, &RegisterThingRequest{CertificateOwnershipToken: token, Parameters: parameters})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", OpRegisterThing, err)
	}
	reg, err := callAccepted(c, ctx, OpRegisterThing, template, payload, ValidateRegisterThingAccepted)
	if err != nil {
		return nil, err
	}
	c.log.Debug("thing registered", zap.String("thingName", reg.ThingName))
	return reg, nil
}

// callAccepted makes one call and turns its accepted answer, decoded as an
// A, into a checked result. An answer whose certificate is for another key
// (errKeyMismatch) is someone else's: it is ignored and the call goes on waiting.
func callAccepted[A, R any](c *Client, ctx context.Context, op Operation, template string, payload []byte,
	check func(topic string, a *A) (R, error)) (R, error) {
	var result R
	err := c.call(ctx, op, template, payload, func(in inbound) (verdict, error) {
		a, err := decodeAs[A](c.s.Format, in.payload)
		if err != nil {
			return verdictDone, invalid(in.name, "", "accepted payload does not decode", err)
		}
		r, err := check(in.name, a)
		if errors.Is(err, errKeyMismatch) {
			return verdictIgnore, err
		}
		if err != nil {
			return verdictDone, err
		}
		result = r
		return verdictDone, nil
	})
	return result, err
}
