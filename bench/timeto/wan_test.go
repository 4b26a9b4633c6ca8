package main

import (
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// A trace built by hand: the claim session's SUBSCRIBE waits for CONNACK,
// its CSR request rides right behind the SUBACK's arrival, RegisterThing
// waits for the CSR answer, and the proving connection opens before the
// RegisterThing answer: 8 round trips.
func TestRoundTripsFromTrace(t *testing.T) {
	const rtt = 100 * time.Millisecond
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	evs := []fleetsim.TraceEvent{
		{Time: at(0), Conn: 1, Event: "open"},
		{Time: at(250), Conn: 1, Event: "packet", Dir: "in", Packet: "CONNECT", ClientID: "dev"},
		{Time: at(250), Conn: 1, Event: "packet", Dir: "out", Packet: "CONNACK"},
		{Time: at(350), Conn: 1, Event: "packet", Dir: "in", Packet: "SUBSCRIBE"},
		{Time: at(350), Conn: 1, Event: "packet", Dir: "out", Packet: "SUBACK"},
		{Time: at(450), Conn: 1, Event: "packet", Dir: "in", Packet: "PUBLISH", Topic: "$aws/certificates/create-from-csr/json"},
		{Time: at(451), Conn: 1, Event: "packet", Dir: "out", Packet: "PUBACK"},
		{Time: at(452), Conn: 1, Event: "packet", Dir: "out", Packet: "PUBLISH", Topic: "$aws/certificates/create-from-csr/json/accepted"},
		{Time: at(552), Conn: 1, Event: "packet", Dir: "in", Packet: "PUBLISH", Topic: "$aws/provisioning-templates/T/provision/json"},
		{Time: at(560), Conn: 2, Event: "open"},
		{Time: at(600), Conn: 1, Event: "packet", Dir: "out", Packet: "PUBLISH", Topic: "$aws/provisioning-templates/T/provision/json/accepted"},
		{Time: at(850), Conn: 2, Event: "packet", Dir: "in", Packet: "CONNECT", ClientID: "gw-dev"},
		{Time: at(850), Conn: 2, Event: "packet", Dir: "out", Packet: "CONNACK"},
	}
	got, err := roundTrips(evs, wanRun{claimID: "dev", thing: "gw-dev"}, rtt)
	if err != nil {
		t.Fatal(err)
	}
	want := "claim TCP 1, TLS 1, CONNECT 1, SUBSCRIBE 1, CreateCertificateFromCsr 1, RegisterThing 1, prove TCP 0, TLS 1, CONNECT 1; total 8"
	if got != want {
		t.Errorf("round trips\n got %s\nwant %s", got, want)
	}

	// A SUBSCRIBE that reached the emulator right behind the CONNECT cost nothing.
	evs[3].Time = at(251)
	if got, _ := roundTrips(evs, wanRun{claimID: "dev", thing: "gw-dev"}, rtt); !strings.Contains(got, "SUBSCRIBE 0") {
		t.Errorf("a pipelined SUBSCRIBE counted: %s", got)
	}
	// A proving connection opened after the last answer pays its TCP.
	evs[9].Time = at(700)
	if got, _ := roundTrips(evs, wanRun{claimID: "dev", thing: "gw-dev"}, rtt); !strings.Contains(got, "prove TCP 1") {
		t.Errorf("a late proving connection's TCP not counted: %s", got)
	}
	if _, err := roundTrips(evs, wanRun{claimID: "other", thing: "gw-dev"}, rtt); err == nil {
		t.Error("a device absent from the trace gave no error")
	}
}
