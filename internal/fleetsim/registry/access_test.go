package registry

import (
	"slices"
	"testing"
)

// Access reads what Certificate reads of a certificate's status, kind and policies.
func TestAccessAgreesWithCertificate(t *testing.T) {
	g := open(t)
	c := pending(1)
	c.Policies = []string{"p1", "p2"}
	if err := g.AddPending(c, nil); err != nil {
		t.Fatal(err)
	}
	full, ok, err := g.Certificate(c.CertificateID)
	if err != nil || !ok {
		t.Fatalf("Certificate: %v %v", ok, err)
	}
	a, ok, err := g.Access(c.CertificateID)
	if err != nil || !ok {
		t.Fatalf("Access: %v %v", ok, err)
	}
	if a.Status != full.Status || a.Kind != full.Kind || !slices.Equal(a.Policies, full.Policies) {
		t.Fatalf("Access %+v, Certificate %+v", a, full)
	}
	if _, ok, err := g.Access("unknown"); ok || err != nil {
		t.Fatalf("an unknown certificate: %v %v", ok, err)
	}
}

// What a CONNECT reads of the registry: the whole certificate, or only its access.
func BenchmarkConnectRead(b *testing.B) {
	g, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = g.Close() }()
	c := pending(1)
	c.Kind, c.Status, c.Policies = KindClaim, StatusActive, []string{"claim-policy"}
	c.CertificatePEM = string(make([]byte, 1200))
	if err := g.AddPending(c, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("certificate", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := g.Certificate(c.CertificateID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("access", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := g.Access(c.CertificateID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
