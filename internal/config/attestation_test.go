package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/attest"
)

const tpmBase = "key_store: tpm\n"

func TestParseAttestation(t *testing.T) {
	c, err := Parse("/etc/provisiond/config.yaml", []byte(base+tpmBase+
		"attestation: {format: tpm2-certify, key: \"handle:0x81020000\", certificate: attestation.crt, parameter_names: \"Format=AttFmt\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Attestation
	if !a.On() || a.Format != attest.FormatTPM2Certify || a.Key != "handle:0x81020000" ||
		a.Certificate != "/etc/provisiond/attestation.crt" || a.Names.Format != "AttFmt" || a.Names.Key != "AttestationKey" {
		t.Fatalf("got %+v", a)
	}
	c, err = Parse("/etc/provisiond/config.yaml", []byte(base+"attestation: {format: signature, key: keys/att.key, certificate: att.crt}\n"))
	if err != nil || c.Attestation.Key != "/etc/provisiond/keys/att.key" || c.Attestation.Names != attest.DefaultNames {
		t.Fatalf("signature: %+v %v", c.Attestation, err)
	}
	c, err = Parse("/etc/provisiond/config.yaml", []byte(base))
	if err != nil || c.Attestation.On() {
		t.Fatalf("off by default: %+v %v", c.Attestation, err)
	}
}

func TestParseAttestationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, add   string
		line        int
		field, want string
	}{
		{"tpm2-certify without a TPM key", "attestation: {format: tpm2-certify, key: \"handle:0x81020000\", certificate: a.crt}\n", 14,
			"attestation.format", "tpm2-certify needs key_store: tpm and certificate_method: csr (got key_store: file, certificate_method: csr)"},
		{"tpm2-certify with create-keys", tpmBase + "attestation: {format: tpm2-certify, key: \"handle:0x81020000\", certificate: a.crt}\n", 14,
			"key_store", "tpm needs certificate_method: csr"},
		{"tpm2-certify with a key file", tpmBase + "attestation: {format: tpm2-certify, key: ak.key, certificate: a.crt}\n", 15,
			"attestation.key", "the attestation key's persistent handle, handle:0x81xxxxxx"},
		{"AK at the device key's handle", "key_store: tpm\ntpm: {handle: \"0x81020000\"}\nattestation: {format: tpm2-certify, key: \"handle:0x81020000\", certificate: a.crt}\n", 16,
			"attestation.key", "is tpm.handle's handle too"},
		{"unknown format", "attestation: {format: tpm, key: k, certificate: c}\n", 14, "attestation.format", `must be signature or tpm2-certify, got "tpm"`},
		{"no key", "attestation: {format: signature, certificate: c}\n", 14, "attestation.key", "required"},
		{"no certificate", "attestation: {format: signature, key: k}\n", 14, "attestation.certificate", "required"},
		{"key without format", "attestation: {key: k}\n", 14, "attestation.key", "attestation.format is not"},
		{"bad handle", "attestation: {format: signature, key: \"handle:1\", certificate: c}\n", 14, "attestation.key", "0x81xxxxxx"},
		{"key in a token", "attestation: {format: signature, key: \"pkcs11:token=t;object=ak\", certificate: c}\n", 14, "attestation.key", "a PKCS#11 token holds the claim key only"},
		{"unknown key", "attestation:\n  format: signature\n  certifcate: c\n", 16, "attestation.certifcate", `did you mean "certificate"`},
		{"bad names", "attestation: {format: signature, key: k, certificate: c, parameter_names: \"Colour=X\"}\n", 14,
			"attestation.parameter_names", `"Colour" is not one of Format`},
		{"name clash", "attestation: {format: signature, key: k, certificate: c, parameter_names: \"Format=Serial\"}\n", 14,
			"attestation.format", "sends the parameter Serial, which template.parameters also sets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := base + tc.add
			if tc.name == "tpm2-certify with create-keys" {
				src = strings.Replace(src, "certificate_method: csr", "certificate_method: create-keys", 1)
			}
			_, err := Parse("/etc/provisiond/config.yaml", []byte(src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want *Error", err)
			}
			if e.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("got line %d field %q: %v; want line %d field %q saying %q", e.Line, e.Field, err, tc.line, tc.field, tc.want)
			}
		})
	}
}

func TestCheckAttestationFiles(t *testing.T) {
	c, dir := checkedConfig(t)
	writePair(t, dir, "attestation.crt", "attestation.key")
	c.Attestation = Attestation{Format: attest.FormatSignature, Key: filepath.Join(dir, "attestation.key"),
		Certificate: filepath.Join(dir, "attestation.crt"), Names: attest.DefaultNames}
	if err := c.CheckFiles(); err != nil {
		t.Fatalf("matching pair: %v", err)
	}
	c.Attestation.Key = filepath.Join(dir, "claim.key")
	if err := c.CheckFiles(); err == nil || !strings.Contains(err.Error(), "attestation.key: "+c.Attestation.Key) {
		t.Fatalf("another key: %v", err)
	}
	c.Attestation.Certificate = filepath.Join(dir, "missing.crt")
	if err := c.CheckFiles(); err == nil || !strings.Contains(err.Error(), "attestation.certificate: ") ||
		!strings.Contains(err.Error(), "missing.crt") {
		t.Fatalf("missing certificate: %v", err)
	}
}
