package statemachine

import (
	"crypto"
	"errors"
	"fmt"
	"maps"
)

// Attester makes the device attestation statement for the current
// certificate, as RegisterThing parameters: certificateID, template and
// clientID name the provisioning, certPEM and key are the new identity
// (internal/attest/device).
type Attester func(certificateID, template, clientID string, certPEM []byte, key crypto.Signer) (map[string]string, error)

// ClientIdentified is a Session that tells its MQTT client id, the hook's
// clientId. *fleet.Client is one; a wrapper of a Session passes it on.
type ClientIdentified interface{ ClientID() string }

const opAttest = "make the attestation statement"

// registrationParameters are RegisterThing's parameters on sess: the
// template's, plus the statement when the device attests. The statement is
// made between CreateCertificate*'s answer and RegisterThing, over the
// session already open: no round trip of its own.
func (r *Runner) registrationParameters(sess Session, certPEM []byte) (map[string]string, error) {
	if r.attest == nil {
		return r.parameters(), nil
	}
	var clientID string
	if s, ok := sess.(ClientIdentified); ok {
		clientID = s.ClientID()
	}
	if clientID == "" {
		return nil, localErr(opAttest, errors.New("the session does not tell its client id"))
	}
	key, err := r.keys.Load(r.st.KeyRef)
	if err != nil {
		return nil, localErr(opAttest, fmt.Errorf("load the key: %w", err))
	}
	statement, err := r.attest(r.st.CertificateID, r.sessionTemplate, clientID, certPEM, key)
	if err != nil {
		return nil, localErr(opAttest, err)
	}
	p := maps.Clone(r.parameters())
	if p == nil {
		p = map[string]string{}
	}
	maps.Copy(p, statement)
	return p, nil
}
