package fleet

import (
	"crypto"
	"encoding/pem"
	"errors"

	"github.com/provisiond/provisiond/internal/keypair"
)

// InvalidAnswerError is an accepted (or rejected) payload that cannot be trusted.
// It names the topic and the field, never the field's value.
type InvalidAnswerError struct {
	Topic  string
	Field  string
	Reason string
	Err    error
}

func (e *InvalidAnswerError) Error() string {
	msg := "invalid answer"
	if e.Topic != "" {
		msg += " on " + e.Topic
	}
	if e.Field != "" {
		msg += ": field " + e.Field
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *InvalidAnswerError) Unwrap() error { return e.Err }

// errKeyMismatch marks an answer whose certificate is for another key: with CSR
// calls it is someone else's answer, which the client ignores.
var errKeyMismatch = errors.New("certificate public key does not match the expected key")

func invalid(topic, field, reason string, err error) error {
	return &InvalidAnswerError{Topic: topic, Field: field, Reason: reason, Err: err}
}

// ValidateCreateKeysAccepted checks a CreateKeysAndCertificate answer: the certificate
// parses, the private key parses and matches it, the id is the certificate's SHA-256,
// and the token is present. topic is only used in errors.
func ValidateCreateKeysAccepted(topic string, a *CreateKeysAccepted) (*Issued, error) {
	if a == nil {
		return nil, invalid(topic, "", "empty answer", nil)
	}
	if a.PrivateKey == "" {
		return nil, invalid(topic, "privateKey", "missing", nil)
	}
	key, err := keypair.PrivateKey([]byte(a.PrivateKey))
	if err != nil {
		return nil, invalid(topic, "privateKey", err.Error(), nil)
	}
	iss, err := validateIssued(topic, a.CertificateID, a.CertificatePEM, a.CertificateOwnershipToken, key.Public())
	if err != nil {
		return nil, err
	}
	iss.PrivateKeyPEM = []byte(a.PrivateKey)
	return iss, nil
}

// ValidateCreateFromCSRAccepted checks a CreateCertificateFromCsr answer against the
// public key of the CSR that was sent.
func ValidateCreateFromCSRAccepted(topic string, a *CreateFromCSRAccepted, pub crypto.PublicKey) (*Issued, error) {
	if a == nil {
		return nil, invalid(topic, "", "empty answer", nil)
	}
	if pub == nil {
		return nil, errors.New("validate CSR answer: no expected public key")
	}
	return validateIssued(topic, a.CertificateID, a.CertificatePEM, a.CertificateOwnershipToken, pub)
}

// ValidateRegisterThingAccepted checks a RegisterThing answer: thingName is present.
func ValidateRegisterThingAccepted(topic string, a *RegisterThingAccepted) (*Registration, error) {
	if a == nil {
		return nil, invalid(topic, "", "empty answer", nil)
	}
	if a.ThingName == "" {
		return nil, invalid(topic, "thingName", "missing or empty", nil)
	}
	cfg := make(map[string]string, len(a.DeviceConfiguration))
	for k, v := range a.DeviceConfiguration {
		cfg[k] = v
	}
	return &Registration{ThingName: a.ThingName, DeviceConfiguration: cfg}, nil
}

func validateIssued(topic, id, certPEM, token string, pub crypto.PublicKey) (*Issued, error) {
	if certPEM == "" {
		return nil, invalid(topic, "certificatePem", "missing or empty", nil)
	}
	cert, err := keypair.Certificate([]byte(certPEM))
	if err != nil {
		return nil, invalid(topic, "certificatePem", "does not parse", err)
	}
	if !publicKeysEqual(cert.PublicKey, pub) {
		return nil, invalid(topic, "certificatePem", "wrong key", errKeyMismatch)
	}
	// One exact comparison with the lowercase hex SHA-256 also refuses ids of
	// the wrong length, case or alphabet, without quoting what was received.
	if id == "" {
		return nil, invalid(topic, "certificateId", "missing or empty", nil)
	}
	if want := keypair.ID(cert); id != want {
		return nil, invalid(topic, "certificateId", "is not the SHA-256 of the certificate ("+want+")", nil)
	}
	if token == "" {
		return nil, invalid(topic, "certificateOwnershipToken", "missing or empty", nil)
	}
	return &Issued{
		CertificateID:  id,
		CertificatePEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		Certificate:    cert,
		OwnershipToken: token,
	}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && eq.Equal(b)
}
