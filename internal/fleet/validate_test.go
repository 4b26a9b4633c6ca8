package fleet

import (
	"errors"
	"strings"
	"testing"
)

const testTopic = "$aws/certificates/create-from-csr/json/accepted"

func TestValidateCreateFromCSRAccepted(t *testing.T) {
	k := testKey(t)
	other := testKey(t)
	certPEM, id := testCert(t, k.Public(), k)
	otherPEM, otherID := testCert(t, other.Public(), other)
	good := CreateFromCSRAccepted{CertificateOwnershipToken: "secret-token", CertificateID: id, CertificatePEM: certPEM}

	iss, err := ValidateCreateFromCSRAccepted(testTopic, &good, k.Public())
	if err != nil {
		t.Fatalf("valid answer refused: %v", err)
	}
	if iss.CertificateID != id || iss.OwnershipToken != "secret-token" || iss.Certificate == nil ||
		!strings.Contains(string(iss.CertificatePEM), "BEGIN CERTIFICATE") || iss.PrivateKeyPEM != nil {
		t.Errorf("unexpected Issued %+v", iss)
	}

	cases := []struct {
		name  string
		edit  func(a *CreateFromCSRAccepted)
		field string
	}{
		{"bad PEM", func(a *CreateFromCSRAccepted) { a.CertificatePEM = "not a pem" }, "certificatePem"},
		{"garbage DER", func(a *CreateFromCSRAccepted) {
			a.CertificatePEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, "certificatePem"},
		{"empty PEM", func(a *CreateFromCSRAccepted) { a.CertificatePEM = "" }, "certificatePem"},
		{"mismatched key", func(a *CreateFromCSRAccepted) { a.CertificatePEM, a.CertificateID = otherPEM, otherID }, "certificatePem"},
		{"wrong id", func(a *CreateFromCSRAccepted) { a.CertificateID = otherID }, "certificateId"},
		{"short id", func(a *CreateFromCSRAccepted) { a.CertificateID = id[:63] }, "certificateId"},
		{"uppercase id", func(a *CreateFromCSRAccepted) { a.CertificateID = strings.ToUpper(id) }, "certificateId"},
		{"empty id", func(a *CreateFromCSRAccepted) { a.CertificateID = "" }, "certificateId"},
		{"empty token", func(a *CreateFromCSRAccepted) { a.CertificateOwnershipToken = "" }, "certificateOwnershipToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.edit(&a)
			_, err := ValidateCreateFromCSRAccepted(testTopic, &a, k.Public())
			var inv *InvalidAnswerError
			if !errors.As(err, &inv) {
				t.Fatalf("got %v, want *InvalidAnswerError", err)
			}
			if inv.Field != tc.field || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), testTopic) {
				t.Errorf("error %q: field %q, want %q and the topic", err, inv.Field, tc.field)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error leaks the token: %q", err)
			}
			if Classify(err) != KindPermanent {
				t.Errorf("Classify = %v, want permanent", Classify(err))
			}
		})
	}
	if _, err := ValidateCreateFromCSRAccepted(testTopic, nil, k.Public()); err == nil {
		t.Error("nil answer accepted")
	}
}

func TestValidateCreateKeysAccepted(t *testing.T) {
	k := testKey(t)
	other := testKey(t)
	certPEM, id := testCert(t, k.Public(), k)
	keyPEM := testKeyPEM(t, k)
	good := CreateKeysAccepted{CertificateID: id, CertificatePEM: certPEM, PrivateKey: keyPEM, CertificateOwnershipToken: "tok"}
	iss, err := ValidateCreateKeysAccepted(testTopic, &good)
	if err != nil {
		t.Fatalf("valid answer refused: %v", err)
	}
	if string(iss.PrivateKeyPEM) != keyPEM || iss.CertificateID != id {
		t.Errorf("unexpected Issued")
	}
	cases := []struct {
		name  string
		edit  func(a *CreateKeysAccepted)
		field string
	}{
		{"missing key", func(a *CreateKeysAccepted) { a.PrivateKey = "" }, "privateKey"},
		{"garbage key", func(a *CreateKeysAccepted) {
			a.PrivateKey = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
		}, "privateKey"},
		{"key of another cert", func(a *CreateKeysAccepted) { a.PrivateKey = testKeyPEM(t, other) }, "certificatePem"},
		{"wrong id", func(a *CreateKeysAccepted) { a.CertificateID = strings.Repeat("0", 64) }, "certificateId"},
		{"empty token", func(a *CreateKeysAccepted) { a.CertificateOwnershipToken = "" }, "certificateOwnershipToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.edit(&a)
			_, err := ValidateCreateKeysAccepted(testTopic, &a)
			var inv *InvalidAnswerError
			if !errors.As(err, &inv) || inv.Field != tc.field {
				t.Fatalf("got %v, want an invalid %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "BEGIN") || strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("error leaks key material: %q", err)
			}
		})
	}
}

func TestValidateRegisterThingAccepted(t *testing.T) {
	reg, err := ValidateRegisterThingAccepted("t", &RegisterThingAccepted{ThingName: "gw-1"})
	if err != nil || reg.ThingName != "gw-1" || reg.DeviceConfiguration == nil {
		t.Fatalf("got %+v, %v", reg, err)
	}
	_, err = ValidateRegisterThingAccepted("t", &RegisterThingAccepted{DeviceConfiguration: map[string]string{"a": "b"}})
	var inv *InvalidAnswerError
	if !errors.As(err, &inv) || inv.Field != "thingName" {
		t.Fatalf("empty thingName: got %v", err)
	}
}
