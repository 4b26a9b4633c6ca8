// Package claimdrop reads a temporary claim handed to the device by a
// trusted user (an installer's app that called CreateProvisioningClaim and
// passed the result over BLE, SoftAP or USB), checks it, and keeps it in the
// state directory's drop folder until the daemon has used it or it expired.
//
// Two forms are taken in:
//   - the raw CreateProvisioningClaim JSON, as the aws CLI and the SDKs print
//     it: {certificateId, certificatePem, keyPair{PublicKey, PrivateKey},
//     expiration}; it may also carry templateName and parameters;
//   - a PEM certificate and its private key, one after the other.
//
// A drop never carries the endpoint or the root CA: those come from the
// config alone, so that a claim minted in another account (or by someone who
// is not the trusted user) fails at this device's endpoint instead of
// pointing the device elsewhere. Such a drop is refused, naming the field.
package claimdrop

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/keypair"
)

// MaxSize bounds a drop: a claim certificate, an RSA key and a few
// parameters fit in a few KiB.
const MaxSize = 64 << 10

// Claim is a temporary claim, checked: the certificate and key belong
// together and the key is not quoted by any error or String.
type Claim struct {
	CertificateID  string
	CertificatePEM []byte
	PrivateKeyPEM  []byte
	// NotAfter is the earlier of the certificate's notAfter and the
	// expiration CreateProvisioningClaim gave.
	NotAfter  time.Time
	NotBefore time.Time
	// TemplateName and Parameters are what the drop asked for; the daemon
	// uses only what its config allows.
	TemplateName string
	Parameters   map[string]string
}

// Error is a drop that cannot be used, in words for the user. Field names
// the JSON field at fault, when there is one.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "temporary claim: " + e.Msg
	}
	return "temporary claim: " + e.Field + ": " + e.Msg
}

// forbidden are fields that would point the device at another service.
var forbidden = []string{"endpoint", "endpointAddress", "rootCa", "rootCA", "root_ca", "rootCaPem", "caCertificate"}

// known are the fields a drop may carry. ResponseMetadata is what boto3
// adds to every answer.
var known = []string{"certificateId", "certificatePem", "keyPair", "expiration", "templateName", "parameters", "ResponseMetadata"}

// Parse reads a drop in either form.
func Parse(data []byte) (*Claim, error) {
	if len(data) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("%d bytes, more than a claim can be (%d)", len(data), MaxSize)}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, &Error{Msg: "empty"}
	}
	if trimmed[0] == '{' {
		return parseJSON(trimmed)
	}
	return parsePEM(trimmed)
}

func parseJSON(data []byte) (*Claim, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, &Error{Msg: "not complete JSON (" + jsonProblem(err) + ")"}
	}
	for _, f := range forbidden {
		if _, ok := fields[f]; ok {
			return nil, &Error{Field: f, Msg: "a temporary claim never carries the endpoint or the root CA: they come from the config only (see provisiond(8))"}
		}
	}
	var unknown []string
	for f := range fields {
		if !slices.Contains(known, f) {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &Error{Field: unknown[0], Msg: "unknown field; a drop holds " + strings.Join(known[:6], ", ")}
	}
	var raw struct {
		CertificateID  string `json:"certificateId"`
		CertificatePEM string `json:"certificatePem"`
		KeyPair        struct {
			PrivateKey string `json:"PrivateKey"`
		} `json:"keyPair"`
		TemplateName string            `json:"templateName"`
		Parameters   map[string]string `json:"parameters"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &Error{Field: te.Field, Msg: "wrong type: want " + te.Type.Kind().String()}
		}
		return nil, &Error{Msg: "not complete JSON (" + jsonProblem(err) + ")"}
	}
	switch {
	case raw.CertificatePEM == "":
		return nil, &Error{Field: "certificatePem", Msg: "missing"}
	case raw.KeyPair.PrivateKey == "":
		return nil, &Error{Field: "keyPair.PrivateKey", Msg: "missing"}
	}
	c, err := checked([]byte(raw.CertificatePEM), []byte(raw.KeyPair.PrivateKey))
	if err != nil {
		return nil, err
	}
	if raw.CertificateID != "" && raw.CertificateID != c.CertificateID {
		return nil, &Error{Field: "certificateId", Msg: "is not the id of certificatePem"}
	}
	if exp, ok := fields["expiration"]; ok {
		t, err := parseExpiration(exp)
		if err != nil {
			return nil, &Error{Field: "expiration", Msg: err.Error()}
		}
		if t.Before(c.NotAfter) {
			c.NotAfter = t
		}
	}
	c.TemplateName = raw.TemplateName
	c.Parameters = raw.Parameters
	return c, nil
}

// parseExpiration takes what the tools print: epoch seconds (the wire form,
// which the aws CLI prints as it is) or an RFC 3339 time (the SDKs' and
// `--cli-timestamp-format iso8601`).
func parseExpiration(raw json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || f <= 0 {
			return time.Time{}, errors.New("not a time")
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, errors.New("not a time: want epoch seconds or RFC 3339")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not a time: want epoch seconds or RFC 3339")
}

func parsePEM(data []byte) (*Claim, error) {
	var certPEM, keyPEM []byte
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE" && certPEM == nil:
			certPEM = pem.EncodeToMemory(block)
		case strings.HasSuffix(block.Type, "PRIVATE KEY") && keyPEM == nil:
			keyPEM = pem.EncodeToMemory(block)
		}
	}
	switch {
	case certPEM == nil && keyPEM == nil:
		return nil, &Error{Msg: "neither CreateProvisioningClaim's JSON nor a PEM certificate and key"}
	case certPEM == nil:
		return nil, &Error{Msg: "the PEM holds a private key but no certificate"}
	case keyPEM == nil:
		return nil, &Error{Msg: "the PEM holds a certificate but no private key"}
	}
	return checked(certPEM, keyPEM)
}

// checked parses the pair and checks that they belong together.
func checked(certPEM, keyPEM []byte) (*Claim, error) {
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		return nil, &Error{Field: "certificatePem", Msg: err.Error()}
	}
	key, err := keypair.PrivateKey(keyPEM)
	if err != nil {
		return nil, &Error{Field: "keyPair.PrivateKey", Msg: err.Error()}
	}
	if err := keypair.Match(cert, key); err != nil {
		return nil, &Error{Field: "keyPair.PrivateKey", Msg: "does not belong to certificatePem"}
	}
	return &Claim{
		CertificateID:  keypair.ID(cert),
		CertificatePEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		PrivateKeyPEM:  keyPEM,
		NotBefore:      cert.NotBefore.UTC(),
		NotAfter:       cert.NotAfter.UTC(),
	}, nil
}

// Certificate is the claim's parsed certificate.
func (c *Claim) Certificate() (*x509.Certificate, error) {
	return keypair.Certificate(c.CertificatePEM)
}

// String names the claim by its certificate id, never its key.
func (c *Claim) String() string {
	return fmt.Sprintf("temporary claim %s (valid until %s)", c.CertificateID, c.NotAfter.Format(time.RFC3339))
}

// jsonProblem words a syntax error without quoting the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if strings.Contains(err.Error(), "unexpected end") {
		return "it ends too soon"
	}
	return "it does not parse"
}
