// Package device makes the device's attestation statement for each
// provisioning (attestation in the config): it signs the message with the
// manufacturer key, or has the TPM's attestation key certify the new device
// key, and returns the RegisterThing parameters. It never changes the
// attestation key: the factory made it, and only the factory replaces it.
package device

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// Setting is the config key whose key errors name.
const Setting = "attestation.key"

// Prover makes statements as the attestation section says.
type Prover struct {
	set config.Attestation
	// tpm is the daemon's TPM, opened on first use.
	tpm func() (*tpmkey.TPM, error)
}

// New returns a prover for a, which must be on. tpm gives the daemon's
// shared TPM, for a key kept in it.
func New(a config.Attestation, tpm func() (*tpmkey.TPM, error)) *Prover {
	return &Prover{set: a, tpm: tpm}
}

// Parameters makes the statement for one provisioning, named by the
// service's certificateID, the template and the session's client id, of
// the new certificate certPEM whose key is key (a key in this TPM for
// tpm2-certify), as RegisterThing parameters. The files are read at each
// call, so a certificate replaced on disk is used at once.
func (p *Prover) Parameters(certificateID, template, clientID string, certPEM []byte, key crypto.Signer) (map[string]string, error) {
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("the new certificate: %v", err)
	}
	m := attest.Message{CertificateID: certificateID, TemplateName: template, ClientID: clientID, SPKI: cert.RawSubjectPublicKeyInfo}
	chain, err := p.chain()
	if err != nil {
		return nil, err
	}
	var s attest.Statement
	switch p.set.Format {
	case attest.FormatSignature:
		s, err = p.sign(chain, m)
	case attest.FormatTPM2Certify:
		s, err = p.certify(chain, m, key)
	default:
		return nil, fmt.Errorf("attestation.format: %q is not a format", p.set.Format)
	}
	if err != nil {
		return nil, err
	}
	return s.Parameters(p.set.Names)
}

// chain reads attestation.certificate.
func (p *Prover) chain() ([][]byte, error) {
	data, err := os.ReadFile(p.set.Certificate)
	if err != nil {
		return nil, fmt.Errorf("attestation.certificate: %v", err)
	}
	certs, err := keypair.Certificates(data)
	if err != nil {
		return nil, fmt.Errorf("attestation.certificate: %s: %v", p.set.Certificate, err)
	}
	chain := make([][]byte, len(certs))
	for i, c := range certs {
		chain[i] = c.Raw
	}
	return chain, nil
}

func (p *Prover) sign(chain [][]byte, m attest.Message) (attest.Statement, error) {
	signer, closeKey, err := claimkey.Open(p.set.Key, claimkey.Devices{TPM: func() (*tpmkey.TPM, func() error, error) {
		t, err := p.tpm()
		return t, func() error { return nil }, err
	}})
	if err != nil {
		return attest.Statement{}, keyError(err)
	}
	defer closeKey() //nolint:errcheck // the shared TPM stays open
	if err := matches(chain, signer.Public()); err != nil {
		return attest.Statement{}, err
	}
	s, err := attest.SignStatement(signer, chain, m)
	return s, keyError(err)
}

func (p *Prover) certify(chain [][]byte, m attest.Message, deviceKey crypto.Signer) (attest.Statement, error) {
	key, ok := deviceKey.(*tpmkey.Key)
	if !ok {
		return attest.Statement{}, fmt.Errorf("attestation.format: tpm2-certify certifies a device key in the TPM, and this one is a %T", deviceKey)
	}
	h, err := tpmkey.ParsePersistentHandle(strings.TrimPrefix(p.set.Key, claimkey.HandlePrefix))
	if err != nil {
		return attest.Statement{}, fmt.Errorf("%s: %v", Setting, err)
	}
	t, err := p.tpm()
	if err != nil {
		return attest.Statement{}, err
	}
	ak, err := t.LoadAttestationKey(h, Setting)
	if err != nil {
		return attest.Statement{}, err
	}
	if err := matches(chain, ak.Public()); err != nil {
		return attest.Statement{}, err
	}
	att, sig, pub, err := t.Certify(key, ak, m.Digest())
	if err != nil {
		return attest.Statement{}, err
	}
	return attest.Statement{Format: attest.FormatTPM2Certify, Chain: chain, Statement: att, Signature: sig, Key: pub}, nil
}

// matches checks that the manufacturer certificate is the key's, so that a
// wrong pairing is a clear local error rather than the hook's denial.
func matches(chain [][]byte, pub crypto.PublicKey) error {
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("attestation.certificate: %v", err)
	}
	if err := keypair.MatchPublic(leaf, pub); err != nil {
		return fmt.Errorf("%s: %v attestation.certificate", Setting, err)
	}
	return nil
}

// keyError names attestation.key in the errors of the claim key's loader,
// which speak of claim.private_key.
func keyError(err error) error {
	var ce *claimkey.Error
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %s", Setting, ce.Msg)
	}
	var te *tpmkey.Error
	if errors.As(err, &te) && te.Setting == claimkey.Setting {
		renamed := *te
		renamed.Setting = Setting
		return &renamed
	}
	return err
}
