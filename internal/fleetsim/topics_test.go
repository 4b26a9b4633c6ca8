package fleetsim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

func TestEveryTopicInBothFormats(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	for i, format := range []string{"json", "cbor"} {
		t.Run(format, func(t *testing.T) {
			// CreateKeysAndCertificate: empty payload, then {} as AWS's Java SDK sends.
			for _, payload := range [][]byte{nil, marshal(t, format, map[string]string{})} {
				var iss issued
				m := call(t, c, "$aws/certificates/create/"+format, payload)
				wantAccepted(t, format, m, &iss)
				block, _ := pem.Decode([]byte(iss.PrivateKey))
				if block == nil {
					t.Fatalf("privateKey is not PEM")
				}
				key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
				if err != nil {
					t.Fatalf("privateKey: %v", err)
				}
				cert, err := parseCertPEM([]byte(iss.CertificatePEM))
				if err != nil {
					t.Fatal(err)
				}
				if key.N.BitLen() != 2048 || !key.PublicKey.Equal(cert.PublicKey.(*rsa.PublicKey)) {
					t.Fatalf("privateKey is RSA-%d and matches the certificate: %v", key.N.BitLen(), key.PublicKey.Equal(cert.PublicKey))
				}
				if iss.CertificateOwnershipToken == "" || iss.CertificateID != certificateID(cert.Raw) {
					t.Fatalf("accepted answer %+v", iss)
				}
				if got, ok := findCert(s.Snapshot(), iss.CertificateID); !ok || got.Status != StatusPendingActivation {
					t.Fatalf("new certificate in the registry: %+v %v", got, ok)
				}
			}
			// CreateCertificateFromCsr and RegisterThing.
			_, iss, reg := provisionCSR(t, c, format, "10"+string(rune('0'+i)))
			if reg.ThingName != "gw-10"+string(rune('0'+i)) || iss.CertificateID == "" {
				t.Fatalf("provisioned %+v %+v", iss, reg)
			}
		})
	}
}

func TestTopicParsing(t *testing.T) {
	tests := []struct {
		topic    string
		ok       bool
		op       operation
		template string
		format   string
	}{
		{"$aws/certificates/create/json", true, opCreateKeys, "", "json"},
		{"$aws/certificates/create/cbor", true, opCreateKeys, "", "cbor"},
		{"$aws/certificates/create-from-csr/json", true, opCreateFromCSR, "", "json"},
		{"$aws/provisioning-templates/My_T-1/provision/cbor", true, opRegister, "My_T-1", "cbor"},
		{"$aws/certificates/create/xml", false, "", "", ""},
		{"$aws/certificates/create/json/accepted", false, "", "", ""},
		{"$aws/provisioning-templates/bad.name/provision/json", false, "", "", ""},
		{"$aws/provisioning-templates/T/provision/json/rejected", false, "", "", ""},
		{"devices/x", false, "", "", ""},
	}
	for _, tt := range tests {
		r, ok := parseRequestTopic(tt.topic)
		if ok != tt.ok || ok && (r.op != tt.op || r.template != tt.template || r.format != tt.format) {
			t.Errorf("parseRequestTopic(%q) = %+v, %v", tt.topic, r, ok)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/+/c", "a/b/c", true},
		{"a/+", "a/b/c", false},
		{"a/b", "a/b/c", false},
		{"#", "$aws/certificates/create/json/accepted", false},
		{"+/certificates/#", "$aws/certificates/create/json/accepted", false},
		{"$aws/certificates/create/json/+", "$aws/certificates/create/json/accepted", true},
		{"$aws/certificates/create/json/accepted", "$aws/certificates/create/json/rejected", false},
	}
	for _, tt := range tests {
		if got := filterMatches(tt.filter, tt.topic); got != tt.want {
			t.Errorf("filterMatches(%q, %q) = %v", tt.filter, tt.topic, got)
		}
	}
}
