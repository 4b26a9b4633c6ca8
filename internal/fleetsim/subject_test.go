package fleetsim

import (
	"crypto/x509/pkix"
	"testing"
)

// RegisterThing takes the AWS::IoT::Certificate::* parameters of a certificate issued with
// the default subject from what was signed, not from the certificate: they must be what
// parsing the certificate gives. A subject kept from a CSR is parsed.
func TestIssuedSubjectMatchesCertificate(t *testing.T) {
	s := start(t, newDir(t), nil)
	key, _ := newCSR(t)
	for _, tt := range []struct {
		name    string
		subject *pkix.Name
		known   bool
	}{
		{"default subject", nil, true},
		{"kept subject", &pkix.Name{CommonName: "device", Country: []string{"FR"}, SerialNumber: "42"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, certPEM, aerr := s.issue(key.Public(), tt.subject)
			if aerr != nil {
				t.Fatal(aerr.msg)
			}
			_, known, err := s.reg.Reserve(id, s.now(), s.ttl)
			if err != nil {
				t.Fatalf("the issued certificate cannot be reserved: %v", err)
			}
			if (known != nil) != tt.known {
				t.Fatalf("subject parameters known: %v, want %v", known != nil, tt.known)
			}
			parsed, err := certificateInfo(id, certPEM)
			if err != nil {
				t.Fatal(err)
			}
			if known != nil && *known != parsed {
				t.Errorf("parameters %+v, the certificate says %+v", *known, parsed)
			}
		})
	}
}
