package config

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// The attestation section: device attestation for the pre-provisioning
// hook (docs/ATTESTATION.md). Off unless format is set.
var attestationKeys = []string{"format", "key", "certificate", "parameter_names"}

func init() { topKeys = append(topKeys, "attestation") }

// Attestation says how the device proves, to the template's hook, that it
// is a unit the manufacturer made.
type Attestation struct {
	// Format is "" (off), signature or tpm2-certify.
	Format attest.Format
	// Key is the manufacturer-certified key: for signature a PEM or TSS2
	// file (resolved), credential:NAME or handle:0x81…; for tpm2-certify the
	// attestation key's handle:0x81….
	Key string
	// Certificate is the key's manufacturer certificate and its chain.
	Certificate string
	// Names are the RegisterThing parameters the statement travels in
	// (attest.DefaultNames unless renamed).
	Names attest.Names
}

// On reports whether the device attests its provisionings.
func (a Attestation) On() bool { return a.Format != "" }

// attestation reads the attestation section, once key_store and
// certificate_method are known.
func (p *parser) attestation(top map[string]*yaml.Node, c *Config) error {
	n := top["attestation"]
	m, err := p.mapping(n, "attestation.", attestationKeys)
	if err != nil {
		return err
	}
	values := map[string]string{}
	for _, k := range attestationKeys {
		if m[k] == nil {
			continue
		}
		if values[k], err = p.scalar(m[k], "attestation."+k); err != nil {
			return err
		}
	}
	line := func(k string) int { return p.lines["attestation."+k] }
	format := values["format"]
	if format == "" {
		for _, k := range attestationKeys[1:] {
			if values[k] != "" {
				return p.errorf(line(k), "attestation."+k, "is set, but attestation.format is not: set it to signature or tpm2-certify, or remove attestation")
			}
		}
		return nil
	}
	a := &c.Attestation
	switch attest.Format(format) {
	case attest.FormatSignature, attest.FormatTPM2Certify:
		a.Format = attest.Format(format)
	default:
		return p.errorf(line("format"), "attestation.format", "must be signature or tpm2-certify, got %q", format)
	}
	if a.Format == attest.FormatTPM2Certify && (c.KeyStore != KeyStoreTPM || c.CertificateMethod != "csr") {
		return p.errorf(line("format"), "attestation.format",
			"tpm2-certify needs key_store: tpm and certificate_method: csr (got key_store: %s, certificate_method: %s): the TPM certifies a device key it made itself",
			c.KeyStore, c.CertificateMethod)
	}
	if a.Key, err = p.required(m, n, "attestation.", "key"); err != nil {
		return err
	}
	src, err := claimkey.Parse(a.Key)
	if err != nil {
		var ce *claimkey.Error
		if errors.As(err, &ce) {
			err = errors.New(ce.Msg)
		}
		return p.errorf(line("key"), "attestation.key", "%v", err)
	}
	if src.Token != nil {
		return p.errorf(line("key"), "attestation.key", "is a pkcs11: URI; the attestation key is a key file, credential:NAME or handle:0x81xxxxxx (a PKCS#11 token holds the claim key only)")
	}
	if a.Format == attest.FormatTPM2Certify && src.Handle == 0 {
		return p.errorf(line("key"), "attestation.key",
			"tpm2-certify needs the attestation key's persistent handle, %s0x81xxxxxx (where the factory put it), got %q", claimkey.HandlePrefix, a.Key)
	}
	for _, f := range []struct{ key, value string }{{"tpm.handle", c.TPM.Handle}, {"tpm.parent", c.TPM.Parent}} {
		if h, err := tpmkey.ParsePersistentHandle(f.value); err == nil && src.Handle != 0 && h == src.Handle {
			return p.errorf(line("key"), "attestation.key", "is %s's handle too; the attestation key needs a handle of its own, which provisiond never changes", f.key)
		}
	}
	if claimkey.IsPath(a.Key) {
		a.Key = p.resolve(a.Key)
	}
	if a.Certificate, err = p.requiredPath(m, n, "attestation.", "certificate"); err != nil {
		return err
	}
	if a.Names, err = attest.ParseNames(values["parameter_names"]); err != nil {
		msg, _ := strings.CutPrefix(err.Error(), "parameter names: ")
		return p.errorf(line("parameter_names"), "attestation.parameter_names", "%s", msg)
	}
	for _, name := range []string{a.Names.Format, a.Names.Certificate, a.Names.Statement, a.Names.Signature, a.Names.Key} {
		if _, clash := c.Template.Parameters[name]; clash {
			return p.errorf(line("format"), "attestation.format", "sends the parameter %s, which template.parameters also sets; rename one (attestation.parameter_names)", name)
		}
	}
	return nil
}

// checkAttestation checks, offline, that the manufacturer certificate
// reads and, for a key in a file, that the key is the certificate's. A key
// at a TPM handle is checked where it is used: the TPM may come later.
func (c *Config) checkAttestation() error {
	a := c.Attestation
	if !a.On() {
		return nil
	}
	bad := func(field string, err error) error {
		return &Error{File: c.Path, Line: c.lines[field], Field: field, Message: err.Error()}
	}
	chain, err := readParsed(a.Certificate, keypair.Certificates)
	if err != nil {
		return bad("attestation.certificate", err)
	}
	if !claimkey.IsPath(a.Key) {
		return nil
	}
	pub, err := claimkey.Public(a.Key, claimkey.Devices{TPM: claimkey.Dial(c.TPM)})
	if err != nil {
		var ce *claimkey.Error
		if errors.As(err, &ce) {
			err = errors.New(ce.Msg)
		}
		return bad("attestation.key", err)
	}
	if err := keypair.MatchPublic(chain[0], pub); err != nil {
		return bad("attestation.key", fmt.Errorf("%s: %v %s (its first certificate)", a.Key, err, a.Certificate))
	}
	return nil
}
