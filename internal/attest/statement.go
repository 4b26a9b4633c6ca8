package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Format is how a statement is made.
type Format string

const (
	// FormatSignature: the manufacturer key signs the message.
	FormatSignature Format = "signature"
	// FormatTPM2Certify: the TPM's attestation key certifies the new
	// device key, qualifyingData = SHA-256 of the message.
	FormatTPM2Certify Format = "tpm2-certify"
)

// Formats are the formats, as the config and the parameter spell them.
var Formats = []Format{FormatSignature, FormatTPM2Certify}

// Statement is what a device sends to be verified.
type Statement struct {
	Format Format
	// Chain is the manufacturer certificate of the signing key (the
	// attestation key for tpm2-certify), then its intermediates; DER.
	Chain [][]byte
	// Statement is, for signature, the signed Message's bytes; for
	// tpm2-certify, the TPMS_ATTEST that TPM2_Certify signed.
	Statement []byte
	// Signature is, for signature, the key's signature over Statement
	// (ECDSA ASN.1 DER with the curve's hash, RSA PKCS #1 v1.5 SHA-256, or
	// Ed25519); for tpm2-certify, the TPMT_SIGNATURE.
	Signature []byte
	// Key is, for tpm2-certify, the certified key's TPMT_PUBLIC.
	Key []byte
}

// MaxValue is the longest value a template parameter may have: the limit
// of the service's HTTP API (its MQTT limit is not documented).
const MaxValue = 4096

// maxChainParts bounds how many parameters a chain may take.
const maxChainParts = 8

// Names are the RegisterThing parameter names the statement travels in.
// A chain longer than MaxValue continues in Certificate+"2",
// Certificate+"3", ….
type Names struct {
	Format, Certificate, Statement, Signature, Key string
}

// DefaultNames are the documented parameter names.
var DefaultNames = Names{
	Format:      "AttestationFormat",
	Certificate: "AttestationCertificate",
	Statement:   "AttestationStatement",
	Signature:   "AttestationSignature",
	Key:         "AttestationKey",
}

// fields pairs each short name (as ParseNames takes it) with its field.
func (n *Names) fields() []struct {
	short string
	value *string
} {
	return []struct {
		short string
		value *string
	}{{"Format", &n.Format}, {"Certificate", &n.Certificate}, {"Statement", &n.Statement},
		{"Signature", &n.Signature}, {"Key", &n.Key}}
}

// ParseNames renames some of DefaultNames: "Format=F,Certificate=C".
func ParseNames(s string) (Names, error) {
	n := DefaultNames
	if strings.TrimSpace(s) == "" {
		return n, nil
	}
	for _, item := range strings.Split(s, ",") {
		short, name, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || name == "" {
			return n, fmt.Errorf("parameter names: %q is not NAME=PARAMETER", item)
		}
		found := false
		for _, f := range n.fields() {
			if f.short == short {
				*f.value, found = name, true
			}
		}
		if !found {
			return n, fmt.Errorf("parameter names: %q is not one of Format, Certificate, Statement, Signature, Key", short)
		}
	}
	return n, nil
}

var b64 = base64.StdEncoding

// Parameters encodes s into RegisterThing parameters, base64 values each
// at most MaxValue long.
func (s Statement) Parameters(n Names) (map[string]string, error) {
	p := map[string]string{n.Format: string(s.Format)}
	chain := b64.EncodeToString(bytes.Join(s.Chain, nil))
	for i := 0; len(chain) > 0; i++ {
		if i == maxChainParts {
			return nil, fmt.Errorf("attestation certificate chain is too long for %d parameters of %d characters", maxChainParts, MaxValue)
		}
		part := chain[:min(len(chain), MaxValue)]
		chain = chain[len(part):]
		p[chainName(n, i)] = part
	}
	for name, v := range map[string][]byte{n.Statement: s.Statement, n.Signature: s.Signature, n.Key: s.Key} {
		if len(v) == 0 {
			continue
		}
		enc := b64.EncodeToString(v)
		if len(enc) > MaxValue {
			return nil, fmt.Errorf("attestation parameter %s would be %d characters, more than %d", name, len(enc), MaxValue)
		}
		p[name] = enc
	}
	return p, nil
}

func chainName(n Names, i int) string {
	if i == 0 {
		return n.Certificate
	}
	return n.Certificate + strconv.Itoa(i+1)
}

// ParseParameters decodes a statement from RegisterThing parameters. Its
// errors are denials of CheckFormat (no or an unknown format) or
// CheckParameters (a value missing or not base64).
func ParseParameters(p map[string]string, n Names) (Statement, error) {
	format, ok := p[n.Format]
	if !ok {
		return Statement{}, deny(CheckFormat, "no %s parameter: the device sent no attestation", n.Format)
	}
	s := Statement{Format: Format(format)}
	if s.Format != FormatSignature && s.Format != FormatTPM2Certify {
		return Statement{}, deny(CheckFormat, "%s is %q, not signature or tpm2-certify", n.Format, format)
	}
	var chain strings.Builder
	for i := 0; i < maxChainParts; i++ {
		part, ok := p[chainName(n, i)]
		if !ok {
			break
		}
		chain.WriteString(part)
	}
	var err error
	decode := func(name, v string) []byte {
		if err != nil {
			return nil
		}
		if v == "" {
			err = deny(CheckParameters, "no %s parameter", name)
			return nil
		}
		var b []byte
		if b, err = b64.DecodeString(v); err != nil {
			err = deny(CheckParameters, "%s is not base64: %v", name, err)
		}
		return b
	}
	der := decode(n.Certificate, chain.String())
	s.Statement = decode(n.Statement, p[n.Statement])
	s.Signature = decode(n.Signature, p[n.Signature])
	if s.Format == FormatTPM2Certify {
		s.Key = decode(n.Key, p[n.Key])
	}
	if err != nil {
		return Statement{}, err
	}
	certs, perr := x509.ParseCertificates(der)
	if perr != nil || len(certs) == 0 {
		return Statement{}, deny(CheckParameters, "%s is not DER certificates: %v", n.Certificate, perr)
	}
	for _, c := range certs {
		s.Chain = append(s.Chain, c.Raw)
	}
	return s, nil
}
