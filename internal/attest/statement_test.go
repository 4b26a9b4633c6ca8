package attest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	m := Message{CertificateID: strings.Repeat("ab", 32), TemplateName: "T", ClientID: "", SPKI: []byte{1, 2, 3}}
	got, err := ParseMessage(m.Bytes())
	if err != nil || got.CertificateID != m.CertificateID || got.TemplateName != m.TemplateName ||
		got.ClientID != m.ClientID || !bytes.Equal(got.SPKI, m.SPKI) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Moving a byte between fields changes the message: lengths bind them.
	a := Message{CertificateID: "ab", TemplateName: "c"}.Bytes()
	b := Message{CertificateID: "a", TemplateName: "bc"}.Bytes()
	if bytes.Equal(a, b) {
		t.Error("field boundaries are not part of the message")
	}
	for name, data := range map[string][]byte{
		"another scheme": []byte("some other message"),
		"truncated":      m.Bytes()[:len(m.Bytes())-1],
		"trailing bytes": append(m.Bytes(), 0),
	} {
		if _, err := ParseMessage(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// A chain longer than one parameter's limit is split over numbered
// parameters and joined again; every value fits the limit.
func TestParametersSplitTheChain(t *testing.T) {
	long := bytes.Repeat([]byte{0x30}, 5000) // stands in for a long DER chain
	s := Statement{Format: FormatSignature, Chain: [][]byte{long}, Statement: []byte("m"), Signature: []byte("s")}
	p, err := s.Parameters(DefaultNames)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p {
		if len(v) > MaxValue {
			t.Errorf("%s is %d characters", k, len(v))
		}
	}
	if p["AttestationCertificate2"] == "" || p["AttestationCertificate3"] != "" {
		t.Errorf("chain parts: %v", keys(p))
	}
	// The stand-in is not DER: decoding gets as far as the certificates.
	_, err = ParseParameters(p, DefaultNames)
	var d *Denial
	if !errors.As(err, &d) || d.Check != CheckParameters || !strings.Contains(err.Error(), "AttestationCertificate is not DER") {
		t.Errorf("got %v", err)
	}
	huge := Statement{Format: FormatSignature, Chain: [][]byte{bytes.Repeat([]byte{1}, 8*MaxValue)}}
	if _, err := huge.Parameters(DefaultNames); err == nil {
		t.Error("a chain over every part was encoded")
	}
}

func TestParseNames(t *testing.T) {
	n, err := ParseNames("Format=F, Key=K")
	if err != nil || n.Format != "F" || n.Key != "K" || n.Certificate != DefaultNames.Certificate {
		t.Fatalf("got %+v %v", n, err)
	}
	for _, bad := range []string{"Format", "Colour=X", "Format="} {
		if _, err := ParseNames(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseParametersDenials(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		check  Check
	}{
		{"none", nil, CheckFormat},
		{"unknown format", map[string]string{"AttestationFormat": "magic"}, CheckFormat},
		{"no certificate", map[string]string{"AttestationFormat": "signature"}, CheckParameters},
		{"not base64", map[string]string{"AttestationFormat": "signature", "AttestationCertificate": "!!"}, CheckParameters},
	} {
		_, err := ParseParameters(tc.params, DefaultNames)
		var d *Denial
		if !errors.As(err, &d) || d.Check != tc.check {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.check)
		}
	}
}

func keys(m map[string]string) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	return k
}
