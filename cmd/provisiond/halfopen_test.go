package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/fleetsim/tracecheck"
	"github.com/provisiond/provisiond/internal/store"
)

// A connection whose packets stop arriving, with no FIN and no RST (the
// link emulator leaves it half-open), is found by the daemon's own
// timeouts, closed and retried, at each step that talks to the service:
// the claim session, the proof of a new certificate, and verification. The
// daemon never hangs on it.
func TestHalfOpenLinkIsFoundClosedAndRetried(t *testing.T) {
	const thing = "gw-0001" // the thing fleetsim init's template names
	for _, tc := range []struct {
		name string
		// stalls says whether a packet is the one to stall; n counts the
		// packets like it so far (1 for the first).
		stalls func(ev fleetsim.TraceEvent, n func() int64) bool
		extra  string
	}{
		{name: "claim session", stalls: func(ev fleetsim.TraceEvent, n func() int64) bool {
			return ev.Packet == "PUBLISH" && strings.HasPrefix(ev.Topic, "$aws/certificates/create-from-csr/") && n() == 1
		}},
		{name: "proof", stalls: func(ev fleetsim.TraceEvent, n func() int64) bool {
			return ev.Packet == "CONNECT" && ev.ClientID == thing && n() == 1
		}},
		// The first proving connect is the proof; the second is the first
		// verification.
		{name: "verification", extra: "verify_every: 1s\n", stalls: func(ev fleetsim.TraceEvent, n func() int64) bool {
			return ev.Packet == "CONNECT" && ev.ClientID == thing && n() == 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var matched atomic.Int64
			var stalled atomic.Bool
			trace := &tracecheck.Recorder{}
			stallIf := func(ev fleetsim.TraceEvent) bool {
				if stalled.Load() {
					return false
				}
				if tc.stalls(ev, func() int64 { return matched.Add(1) }) {
					stalled.Store(true)
					return true
				}
				return false
			}
			path, _ := startEmulator(t, fleetsim.Options{Trace: trace, Link: fleetsim.Link{StallIf: stallIf}}, fastRetry+tc.extra)
			cfg, _, _ := runningDaemon(t, path)
			creds := registered(t, cfg.StateDirectory)

			if tc.name == "verification" {
				// Verification after the stall: accepted again, the identity kept.
				st := awaitState(t, cfg.StateDirectory, func(st store.State) bool {
					return stalled.Load() && st.VerifyResult == store.VerifyAccepted && st.VerifiedAt.After(creds.ProvisionedAt)
				})
				if st.CertificateID != creds.CertificateID {
					t.Errorf("a stalled verification replaced the identity %s with %s", creds.CertificateID, st.CertificateID)
				}
			}
			if !stalled.Load() {
				t.Fatal("the link never stalled the step under test")
			}
			// The device, not the emulator, closed the silent connection.
			events, err := trace.Events()
			if err != nil {
				t.Fatal(err)
			}
			var stalledConn uint64
			closed := false
			for _, ev := range events {
				switch {
				case ev.Event == "stall":
					stalledConn = ev.Conn
				case ev.Event == "close" && stalledConn != 0 && ev.Conn == stalledConn:
					closed = true
				}
			}
			if stalledConn == 0 || !closed {
				t.Errorf("trace: stall on connection %d, closed afterwards: %v", stalledConn, closed)
			}
		})
	}
}

// awaitState waits until the saved state satisfies done, and returns it.
func awaitState(t *testing.T, dir string, done func(store.State) bool) store.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st store.State
	ok := false
	_ = awaitInDir(ctx, dir, func() bool {
		s, err := store.LoadState(store.ReadOnlyDir(dir))
		if err == nil && done(s) {
			st, ok = s, true
		}
		return ok
	})
	if !ok {
		t.Fatalf("the state in %s never got there; last: %+v", dir, st)
	}
	return st
}
