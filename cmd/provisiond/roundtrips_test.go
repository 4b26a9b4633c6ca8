package main

import (
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/fleetsim/tracecheck"
	"github.com/provisiond/provisiond/internal/store"
)

// The daemon provisions in the fewest round trips, as the emulator's packet
// trace shows: one SUBSCRIBE in the claim session, before any request,
// carrying exactly the answers of the configured flow; none on the proving
// connection, whose TCP is open before RegisterThing is answered. The link's
// delay only makes the order independent of the scheduler; nothing is timed.
func TestDaemonPacketSequence(t *testing.T) {
	for _, tc := range []struct {
		method string
		certOp fleet.Operation
		format fleet.Format
	}{
		{"csr", fleet.OpCreateFromCSR, fleet.JSON},
		{"create-keys", fleet.OpCreateKeys, fleet.CBOR},
	} {
		t.Run(tc.method, func(t *testing.T) {
			trace := &tracecheck.Recorder{}
			path, srv := startEmulator(t, fleetsim.Options{Trace: trace, Link: fleetsim.Link{RTT: 40 * time.Millisecond}},
				"certificate_method: "+tc.method+"\npayload_format: "+string(tc.format)+"\n")
			cfg := provision(t, path)
			creds, err := store.ReadCredentials(cfg.StateDirectory + "/" + store.CredentialsFile)
			if err != nil {
				t.Fatal(err)
			}
			clientID, err := cfg.ClientIDFor(config.SystemFacts)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			var topics []string
			for _, c := range []struct {
				op   fleet.Operation
				tmpl string
			}{{tc.certOp, ""}, {fleet.OpRegisterThing, cfg.Template.Name}} {
				acc, _ := fleet.AcceptedTopic(c.op, c.tmpl, tc.format)
				rej, _ := fleet.RejectedTopic(c.op, c.tmpl, tc.format)
				topics = append(topics, acc, rej)
			}
			evs, err := trace.Events()
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range tracecheck.Check(evs, tracecheck.Flow{ClaimClientID: clientID, ThingName: creds.ThingName, Topics: topics}) {
				t.Error(err)
			}
		})
	}
}
