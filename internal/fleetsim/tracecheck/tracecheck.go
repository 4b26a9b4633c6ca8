// Package tracecheck reads the emulator's packet trace of one device's
// provisioning and reports where it used more round trips than the flow
// needs: more than one SUBSCRIBE in the claim session, a SUBSCRIBE after the
// first request or on the proving connection, topics other than the flow's
// answers, or a proving connection opened only after RegisterThing was
// answered. Tests of the device client and of the daemon share it; it
// asserts order, never timing.
package tracecheck

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// Flow names the device's two connections and the response topics its one
// SUBSCRIBE must carry.
type Flow struct {
	ClaimClientID string
	ThingName     string
	Topics        []string
}

// Check returns every way evs departs from the flow; none means the trace
// shows the minimum.
func Check(evs []fleetsim.TraceEvent, f Flow) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	byClient := map[string]uint64{}
	opened := map[uint64]int{}
	for i, ev := range evs {
		if ev.Event == "open" {
			opened[ev.Conn] = i
		}
		if ev.Packet == "CONNECT" {
			byClient[ev.ClientID] = ev.Conn
		}
	}
	if len(opened) != 2 {
		fail("%d connections, want 2 (the claim session and the proving connection)", len(opened))
	}
	claimConn, ok1 := byClient[f.ClaimClientID]
	proveConn, ok2 := byClient[f.ThingName]
	if !ok1 || !ok2 {
		return append(errs, fmt.Errorf("no CONNECT from %q (claim) or %q (thing) in the trace", f.ClaimClientID, f.ThingName))
	}
	var subs [][]string
	firstRequest, registered := -1, -1
	for i, ev := range evs {
		if ev.Conn == proveConn && ev.Packet == "SUBSCRIBE" {
			fail("the proving connection subscribed to %v", ev.Topics)
		}
		if ev.Conn != claimConn || ev.Event != "packet" {
			continue
		}
		switch {
		case ev.Packet == "SUBSCRIBE":
			subs = append(subs, ev.Topics)
			if firstRequest >= 0 {
				fail("SUBSCRIBE %v after the first request", ev.Topics)
			}
		case ev.Packet == "PUBLISH" && ev.Dir == "in" && firstRequest < 0:
			firstRequest = i
		case ev.Packet == "PUBLISH" && ev.Dir == "out" && strings.Contains(ev.Topic, "/provision/") && strings.HasSuffix(ev.Topic, "/accepted"):
			registered = i
		}
	}
	if len(subs) != 1 {
		return append(errs, fmt.Errorf("the claim session sent %d SUBSCRIBEs %v, want 1", len(subs), subs))
	}
	want := slices.Sorted(slices.Values(f.Topics))
	if got := slices.Sorted(slices.Values(subs[0])); !slices.Equal(got, want) {
		fail("the SUBSCRIBE carried %v, want %v", got, want)
	}
	if registered < 0 {
		return append(errs, fmt.Errorf("no RegisterThing answer in the trace"))
	}
	if opened[proveConn] > registered {
		fail("the proving connection opened after RegisterThing was answered (event %d > %d)", opened[proveConn], registered)
	}
	return errs
}

// Recorder collects a trace as the emulator writes it (Options.Trace), from
// many connections at once, for a test to read when the run is over.
type Recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

// Events parses what was written so far.
func (r *Recorder) Events() ([]fleetsim.TraceEvent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fleetsim.ReadTrace(bytes.NewReader(r.buf.Bytes()))
}
