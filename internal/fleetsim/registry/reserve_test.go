package registry

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Reserve refuses with ErrNotReservable what the device got wrong (a token
// for an unknown, used, expired or held certificate), and with another
// error, naming the certificate, a registry it cannot read: RegisterThing
// answers the one 400 and the other 500.
func TestReserveTellsARefusalFromAFailedRead(t *testing.T) {
	const ttl = time.Hour
	created := pending(0).CreatedAt
	g := open(t)
	for i := 1; i <= 4; i++ {
		if err := g.AddPending(pending(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Write(func(tx *Tx) error {
		return tx.SetCertificateStatus(pending(2).CertificateID, StatusActive, created)
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Reserve(pending(4).CertificateID, created.Add(time.Minute), ttl); err != nil {
		t.Fatalf("reserve a pending certificate: %v", err)
	}
	for _, tc := range []struct {
		name string
		id   int
		now  time.Time
		ok   bool
	}{
		{"pending, within the token's hour", 1, created.Add(time.Minute), true},
		{"unknown", 9, created.Add(time.Minute), false},
		{"already registered", 2, created.Add(time.Minute), false},
		{"the token's hour has passed", 3, created.Add(ttl), false},
		{"held by another request", 4, created.Add(time.Minute), false},
	} {
		c, _, err := g.Reserve(pending(tc.id).CertificateID, tc.now, ttl)
		switch {
		case tc.ok && (err != nil || c.CertificatePEM != "pem"):
			t.Errorf("%s: %+v, %v; want the certificate", tc.name, c, err)
		case !tc.ok && !errors.Is(err, ErrNotReservable):
			t.Errorf("%s: %v, want ErrNotReservable", tc.name, err)
		}
	}

	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	id := pending(3).CertificateID
	_, _, err := g.Reserve(id, created.Add(time.Minute), ttl)
	if err == nil || errors.Is(err, ErrNotReservable) || !strings.Contains(err.Error(), id) {
		t.Fatalf("reserve on a registry that cannot be read: %v; want a read error naming %s", err, id)
	}
}
