package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
)

// Event is what AWS IoT sends a pre-provisioning hook.
type Event struct {
	ClaimCertificateID string            `json:"claimCertificateId"`
	CertificateID      string            `json:"certificateId"`
	CertificatePEM     string            `json:"certificatePem"`
	TemplateARN        string            `json:"templateArn"`
	ClientID           string            `json:"clientId"`
	Parameters         map[string]string `json:"parameters"`
}

// TemplateName is the template's name, the last part of its ARN
// (arn:aws:iot:REGION:ACCOUNT:provisioningtemplate/NAME).
func (e Event) TemplateName() string {
	_, name, _ := strings.Cut(e.TemplateARN, ":provisioningtemplate/")
	return name
}

// ThingNameSource is the manufacturer certificate's field that names the
// thing.
type ThingNameSource string

const (
	// FromSubjectSerial: the subject's serialNumber attribute, where IEEE
	// 802.1AR device identities carry the unit's serial number.
	FromSubjectSerial ThingNameSource = "subject-serial"
	// FromCertificateSerial: the certificate's serial number, in hex.
	FromCertificateSerial ThingNameSource = "certificate-serial"
	// FromCommonName: the subject's common name.
	FromCommonName ThingNameSource = "common-name"
)

// ThingNameSources are the sources, as flags spell them.
var ThingNameSources = []ThingNameSource{FromSubjectSerial, FromCertificateSerial, FromCommonName}

// thingNameChars is what AWS IoT allows in a thing name.
var thingNameChars = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// Verifier checks statements against the OEM's roots.
type Verifier struct {
	// Roots are the OEM roots that manufacturer certificates chain to.
	Roots *x509.CertPool
	// Names are the parameter names; zero means DefaultNames.
	Names Names
	// ThingName is where the thing name comes from; "" is FromSubjectSerial.
	ThingName ThingNameSource
	// Now is the time of the chain's validity check; nil is time.Now.
	Now func() time.Time
}

// Verified is a statement that passed every check.
type Verified struct {
	Format Format
	// ThingName is the name the hook gives the thing.
	ThingName string
	// Manufacturer is the manufacturer certificate that vouched.
	Manufacturer *x509.Certificate
}

// Verify runs every check on the event's statement. Its error is a
// *Denial naming the first check that failed.
func (v *Verifier) Verify(ev Event) (*Verified, error) {
	names := v.Names
	if names == (Names{}) {
		names = DefaultNames
	}
	s, err := ParseParameters(ev.Parameters, names)
	if err != nil {
		return nil, err
	}
	newCert, err := parseNewCertificate(ev.CertificatePEM)
	if err != nil {
		return nil, err
	}
	leaf, err := v.chain(s.Chain)
	if err != nil {
		return nil, err
	}
	want := Message{CertificateID: ev.CertificateID, TemplateName: ev.TemplateName(), ClientID: ev.ClientID,
		SPKI: newCert.RawSubjectPublicKeyInfo}
	switch s.Format {
	case FormatSignature:
		err = verifySigned(s, leaf, want)
	case FormatTPM2Certify:
		err = verifyCertified(s, leaf, newCert, want)
	}
	if err != nil {
		return nil, err
	}
	name, err := v.thingName(leaf)
	if err != nil {
		return nil, err
	}
	return &Verified{Format: s.Format, ThingName: name, Manufacturer: leaf}, nil
}

func parseNewCertificate(certPEM string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, deny(CheckNewCertificate, "certificatePem holds no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, deny(CheckNewCertificate, "certificatePem: %v", err)
	}
	return c, nil
}

// chain verifies the manufacturer certificate to the OEM roots, now.
func (v *Verifier) chain(chain [][]byte) (*x509.Certificate, error) {
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, deny(CheckParameters, "manufacturer certificate %d: %v", i+1, err)
		}
		certs[i] = c
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: v.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		var invalid x509.CertificateInvalidError
		var unknown x509.UnknownAuthorityError
		switch {
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			return nil, deny(CheckChain, "manufacturer certificate %q (or its issuer) is outside its validity at %s: %s",
				leaf.Subject, now.UTC().Format(time.RFC3339), invalid.Detail)
		case errors.As(err, &unknown):
			return nil, deny(CheckChain, "manufacturer certificate %q, issued by %q, does not chain to a configured OEM root",
				leaf.Subject, leaf.Issuer)
		}
		return nil, deny(CheckChain, "manufacturer certificate %q: %v", leaf.Subject, err)
	}
	if leaf.IsCA {
		return nil, deny(CheckChain, "manufacturer certificate %q is a CA certificate, not a device's", leaf.Subject)
	}
	return leaf, nil
}

// verifySigned checks a signature-format statement: the manufacturer key
// signed a message, and the message is this provisioning's.
func verifySigned(s Statement, leaf *x509.Certificate, want Message) error {
	if err := verifySignature(leaf.PublicKey, s.Statement, s.Signature); err != nil {
		return deny(CheckSignature, "not signed by the manufacturer certificate's key: %v", err)
	}
	got, err := ParseMessage(s.Statement)
	if err != nil {
		return deny(CheckMessage, "the signed message %v", err)
	}
	if !bytes.Equal(got.SPKI, want.SPKI) {
		return deny(CheckCertifiedKey, "the statement is for another key than certificatePem's")
	}
	for _, f := range []struct{ what, got, want string }{
		{"certificateId", got.CertificateID, want.CertificateID},
		{"template", got.TemplateName, want.TemplateName},
		{"client id", got.ClientID, want.ClientID},
	} {
		if f.got != f.want {
			return deny(CheckMessage, "the statement names %s %q, this provisioning %q: it was made for another provisioning", f.what, f.got, f.want)
		}
	}
	return nil
}

// verifyCertified checks a tpm2-certify statement: the attestation key
// signed a TPM2_Certify of a key that cannot leave its TPM, that key is the
// new certificate's, and the qualifying data is this provisioning's.
func verifyCertified(s Statement, leaf, newCert *x509.Certificate, want Message) error {
	if err := verifyTPMSignature(leaf.PublicKey, s.Statement, s.Signature); err != nil {
		return deny(CheckSignature, "the TPMS_ATTEST is not signed by the manufacturer certificate's attestation key: %v", err)
	}
	att, err := tpm2.Unmarshal[tpm2.TPMSAttest](s.Statement)
	if err != nil {
		return deny(CheckStatement, "not a TPMS_ATTEST: %v", err)
	}
	if att.Magic != tpm2.TPMGeneratedValue {
		return deny(CheckStatement, "the TPMS_ATTEST was not generated by a TPM (magic %#x)", uint32(att.Magic))
	}
	if att.Type != tpm2.TPMSTAttestCertify {
		return deny(CheckStatement, "the TPMS_ATTEST is of type %#x, not TPM_ST_ATTEST_CERTIFY", uint16(att.Type))
	}
	info, err := att.Attested.Certify()
	if err != nil {
		return deny(CheckStatement, "the TPMS_ATTEST has no certify information: %v", err)
	}
	pub, err := tpm2.Unmarshal[tpm2.TPMTPublic](s.Key)
	if err != nil {
		return deny(CheckParameters, "the certified key is not a TPMT_PUBLIC: %v", err)
	}
	name, err := tpm2.ObjectName(pub)
	if err != nil {
		return deny(CheckKeyName, "the certified key's name cannot be computed: %v", err)
	}
	if !bytes.Equal(name.Buffer, info.Name.Buffer) {
		return deny(CheckKeyName, "the TPM certified the key named %s, the statement's key is named %s",
			hex.EncodeToString(info.Name.Buffer), hex.EncodeToString(name.Buffer))
	}
	a := pub.ObjectAttributes
	for _, f := range []struct {
		set  bool
		what string
	}{
		{a.FixedTPM, "fixedTPM: it can be duplicated out of its TPM"},
		{a.FixedParent, "fixedParent: it can be duplicated to another parent"},
		{a.SensitiveDataOrigin, "sensitiveDataOrigin: its private part was made outside the TPM"},
	} {
		if !f.set {
			return deny(CheckAttributes, "the certified key is not %s", f.what)
		}
	}
	key, err := tpm2.Pub(*pub)
	if err != nil {
		return deny(CheckCertifiedKey, "the certified key is of an unsupported type: %v", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key)
	if err != nil || !bytes.Equal(spki, newCert.RawSubjectPublicKeyInfo) {
		return deny(CheckCertifiedKey, "the TPM certified another key than certificatePem's")
	}
	if !bytes.Equal(att.ExtraData.Buffer, want.Digest()) {
		return deny(CheckMessage, "the qualifying data is not the SHA-256 of this provisioning's message "+
			"(certificateId %s, template %q, client id %q): it was made for another provisioning", want.CertificateID, want.TemplateName, want.ClientID)
	}
	return nil
}

// thingName reads the configured field of the manufacturer certificate.
func (v *Verifier) thingName(leaf *x509.Certificate) (string, error) {
	src := v.ThingName
	if src == "" {
		src = FromSubjectSerial
	}
	var name string
	switch src {
	case FromSubjectSerial:
		name = leaf.Subject.SerialNumber
	case FromCertificateSerial:
		name = hex.EncodeToString(leaf.SerialNumber.Bytes())
	case FromCommonName:
		name = leaf.Subject.CommonName
	default:
		return "", deny(CheckThingName, "unknown thing name source %q", src)
	}
	if !thingNameChars.MatchString(name) {
		return "", deny(CheckThingName, "the manufacturer certificate's %s is %q, not a thing name (1–128 of a-z A-Z 0-9 : _ -)", src, name)
	}
	return name, nil
}

// ParseThingNameSource checks a flag's value.
func ParseThingNameSource(s string) (ThingNameSource, error) {
	for _, t := range ThingNameSources {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("thing name source %q is not subject-serial, certificate-serial or common-name", s)
}
