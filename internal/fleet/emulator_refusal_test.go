package fleet_test

import (
	"path/filepath"
	"testing"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
)

// Against the emulator: a certificate the registry does not hold ACTIVE is
// refused by the service; the same identity with the service gone is a
// network failure, never a refusal.
func TestEmulatorRefusedOrOffline(t *testing.T) {
	e := startEmulator(t)
	ctx := ctxFor(t)
	c := e.dial(t, e.options(t, fleet.JSON))
	key := newKey(t)
	iss, err := c.CreateCertificateFromCSR(ctx, csrFor(t, key), key)
	if err != nil {
		t.Fatal(err)
	}
	device := e.options(t, fleet.JSON)
	device.ClientID = "device-" + filepath.Base(t.Name())
	device.Certificate = identity(t, iss, key)

	err = fleet.Prove(ctx, device)
	if reason, refused := fleet.Refused(err); !refused {
		t.Fatalf("proof with a certificate pending activation: %v; Refused = false, want a refusal", err)
	} else {
		t.Logf("refused: %s", reason)
	}

	if _, err := c.RegisterThing(ctx, fleetsim.DemoTemplate, iss.OwnershipToken, map[string]string{"SerialNumber": "refusal"}); err != nil {
		t.Fatalf("RegisterThing: %v", err)
	}
	_ = c.Close()
	if err := fleet.Prove(ctx, device); err != nil {
		t.Fatalf("proof with the registered certificate: %v", err)
	}

	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	err = fleet.Prove(ctx, device)
	if err == nil {
		t.Fatal("proof succeeded with the emulator stopped")
	}
	if reason, refused := fleet.Refused(err); refused {
		t.Errorf("emulator stopped: %v counted as a refusal (%s): an offline device would give up its identity", err, reason)
	}
}
