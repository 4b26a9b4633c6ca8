package fleet_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/provisiond/provisiond/internal/fleet"
)

// Options.DialContext opens the connection under TLS (a proxy's tunnel,
// say) and its errors reach the caller with their type.
func TestDialContextCarriesTheConnection(t *testing.T) {
	e := startEmulator(t)
	var calls atomic.Int32
	o := e.options(t, fleet.JSON)
	o.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		calls.Add(1)
		if addr != e.srv.Addr() {
			t.Errorf("dialed %s, want the endpoint %s", addr, e.srv.Addr())
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	e.dial(t, o)
	if calls.Load() != 1 {
		t.Fatalf("DialContext called %d times, want 1", calls.Load())
	}

	refused := &fleet.OptionsError{Field: "proxy", Reason: "refused the credentials"}
	o.DialContext = func(context.Context, string, string) (net.Conn, error) { return nil, refused }
	_, err := fleet.Dial(ctxFor(t), o)
	var oe *fleet.OptionsError
	if !errors.As(err, &oe) || fleet.Classify(err) != fleet.KindPermanent {
		t.Fatalf("Dial: %v (%v), want the dial function's error, permanent", err, fleet.Classify(err))
	}
}
