package fleetsim

import (
	"testing"
)

// The request decoders take anything a device sends: they must answer with an error,
// never panic.

func FuzzCreateFromCSRRequest(f *testing.F) {
	f.Add(byte(0), []byte(`{"certificateSigningRequest": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"}`))
	f.Add(byte(1), []byte{0xa1, 0x78, 0x19})
	f.Add(byte(0), []byte(`{"certificateSigningRequest": 1}`))
	f.Fuzz(func(t *testing.T, cborFormat byte, payload []byte) {
		format := formatJSON
		if cborFormat&1 == 1 {
			format = formatCBOR
		}
		var r createFromCSRRequest
		if err := decode(format, payload, &r); err != nil {
			return
		}
		_, _ = parseCSR(r.CertificateSigningRequest)
	})
}

func FuzzRegisterThingRequest(f *testing.F) {
	f.Add(byte(0), []byte(`{"certificateOwnershipToken": "abc", "parameters": {"SerialNumber": "1"}}`))
	f.Add(byte(1), []byte{0xa2, 0x61, 0x61, 0x01, 0x61, 0x62, 0xa0})
	f.Add(byte(0), []byte(`{"parameters": {"a": null}}`))
	s := &Server{secret: []byte("0123456789abcdef0123456789abcdef")}
	f.Fuzz(func(t *testing.T, cborFormat byte, payload []byte) {
		format := formatJSON
		if cborFormat&1 == 1 {
			format = formatCBOR
		}
		var r registerRequest
		if err := decode(format, payload, &r); err != nil {
			return
		}
		if id, ok := s.tokenCertificate(r.CertificateOwnershipToken); ok && s.makeToken(id) != r.CertificateOwnershipToken {
			t.Fatalf("token %q accepted for %s but is not the one made for it", r.CertificateOwnershipToken, id)
		}
	})
}

func FuzzRequestTopic(f *testing.F) {
	f.Add("$aws/provisioning-templates/GatewayTemplate/provision/json")
	f.Add("$aws/certificates/create/cbor")
	f.Fuzz(func(t *testing.T, topic string) {
		if r, ok := parseRequestTopic(topic); ok {
			if r.accepted() != topic+"/accepted" || (r.format != formatJSON && r.format != formatCBOR) {
				t.Fatalf("parsed %q as %+v", topic, r)
			}
			if !claimMayUse(topic) {
				t.Fatalf("request topic %q is outside the claim policy", topic)
			}
		}
		_ = filterMatches(topic, topic)
	})
}
