package statemachine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A new certificate that expired before it could be proven (short-lived,
// and the proof came too late) is refused by the service for ever: it is
// abandoned for a new one, and only when both the service refused it and
// the device's clock is past its end. Either alone is retried.
func TestExpiredCertificateRefusedIsAbandoned(t *testing.T) {
	for _, tc := range []struct {
		name      string
		expired   bool
		proofErr  error
		abandoned bool
	}{
		{"refused and expired", true, errRefused(), true},
		{"refused, not expired", false, errRefused(), false},
		{"expired, network failure", true, errors.New("dial tcp 192.0.2.1:8883: i/o timeout"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, MethodCSR, autoClock)
			end := h.clock.Now().Add(time.Hour)
			if tc.expired {
				end = h.clock.Now().Add(-time.Second)
			}
			h.svc.lifetimes = []time.Time{end}
			h.svc.fail("prove", tc.proofErr)
			st := h.provision(registeredAs(""))
			if tc.abandoned {
				if len(st.Orphans) != 1 || !strings.Contains(st.Orphans[0].Reason, "expired") {
					t.Fatalf("orphans %+v, want the expired certificate given up", st.Orphans)
				}
				if st.CertificateID == st.Orphans[0].CertificateID {
					t.Fatalf("registered with the abandoned certificate %s", st.CertificateID)
				}
			} else if len(st.Orphans) != 0 {
				t.Fatalf("orphans %+v, want the certificate kept and its proof retried", st.Orphans)
			}
			checkRegistered(t, h)
		})
	}
}
