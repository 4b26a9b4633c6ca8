package fleet_test

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/fleetsim/tracecheck"
)

// The packets of a whole provisioning, as the emulator saw them: one
// SUBSCRIBE for the claim session, sent before any request, carrying every
// response topic; none on the proving connection, whose TCP was open
// before RegisterThing was answered. The link's delay only makes the order
// independent of the scheduler; nothing here is timed.
func TestPacketSequence(t *testing.T) {
	for _, method := range []string{"csr", "create-keys"} {
		t.Run(method, func(t *testing.T) {
			trace := &tracecheck.Recorder{}
			e := startEmulatorEdit(t, func(o *fleetsim.Options) {
				o.Trace = trace
				o.Link = fleetsim.Link{RTT: 40 * time.Millisecond}
			})
			ctx := ctxFor(t)
			certOp := fleet.OpCreateFromCSR
			if method == "create-keys" {
				certOp = fleet.OpCreateKeys
			}
			claim := e.options(t, fleet.JSON)
			claim.Calls = []fleet.Operation{certOp, fleet.OpRegisterThing}
			claim.Template = fleetsim.DemoTemplate
			c := e.dial(t, claim)

			iss, key := issue(t, ctx, c, method)
			ahead := fleet.DialAhead(ctx, claim)
			reg, err := c.RegisterThing(ctx, fleetsim.DemoTemplate, iss.OwnershipToken, map[string]string{"SerialNumber": "seq-" + method})
			if err != nil {
				ahead.Close()
				t.Fatalf("RegisterThing: %v", err)
			}
			_ = c.Close()
			device := e.options(t, fleet.JSON)
			device.ClientID = reg.ThingName
			device.Certificate = identity(t, iss, key)
			if err := ahead.Prove(ctx, device); err != nil {
				t.Fatalf("Prove over the connection opened ahead: %v", err)
			}
			if err := e.srv.Close(); err != nil {
				t.Fatal(err)
			}
			checkSequence(t, traceEvents(t, trace), claim, reg.ThingName, certOp)
		})
	}
}

func checkSequence(t *testing.T, evs []fleetsim.TraceEvent, claim fleet.Options, thing string, certOp fleet.Operation) {
	t.Helper()
	var topics []string
	for _, op := range claim.Calls {
		tmpl := ""
		if op == fleet.OpRegisterThing {
			tmpl = claim.Template
		}
		acc, _ := fleet.AcceptedTopic(op, tmpl, fleet.JSON)
		rej, _ := fleet.RejectedTopic(op, tmpl, fleet.JSON)
		topics = append(topics, acc, rej)
	}
	for _, err := range tracecheck.Check(evs, tracecheck.Flow{ClaimClientID: claim.ClientID, ThingName: thing, Topics: topics}) {
		t.Errorf("%s and RegisterThing: %v", certOp, err)
	}
}

// Close releases a connection opened ahead that nobody used, and a Prove
// after it fails without dialling.
func TestDialAheadClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := ctxFor(t)
	ahead := fleet.DialAhead(ctx, fleet.Options{Endpoint: ln.Addr().String()})
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	ahead.Close()
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := server.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server read %d bytes, %v: want the connection closed", n, err)
	}
	e := startEmulator(t)
	opts := e.options(t, fleet.JSON)
	opts.Endpoint = ln.Addr().String()
	if err := ahead.Prove(ctx, opts); err == nil || !strings.Contains(err.Error(), "already used or closed") {
		t.Fatalf("Prove after Close: %v, want a refusal without dialling", err)
	}
}

// Prove refuses options for another endpoint than the one dialled ahead.
func TestDialAheadOtherEndpoint(t *testing.T) {
	e := startEmulator(t)
	ctx := ctxFor(t)
	ahead := fleet.DialAhead(ctx, fleet.Options{Endpoint: e.srv.Addr()})
	opts := e.options(t, fleet.JSON)
	opts.Endpoint = e.srv.ALPNAddr()
	var oe *fleet.OptionsError
	if err := ahead.Prove(ctx, opts); !errors.As(err, &oe) || oe.Field != "Endpoint" {
		t.Fatalf("Prove for another endpoint: %v, want an OptionsError on Endpoint", err)
	}
}

// A connection opened ahead that the endpoint ended while it waited is no
// failure: Prove dials afresh.
func TestDialAheadRedialsAfterStaleConnection(t *testing.T) {
	e := startEmulator(t)
	ctx := ctxFor(t)
	// A relay in front of the emulator whose first connection it ends at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go relay(ln, e.srv.Addr())
	opts := e.options(t, fleet.JSON)
	opts.Endpoint = ln.Addr().String()
	ahead := fleet.DialAhead(ctx, opts)

	c := e.dial(t, e.options(t, fleet.JSON))
	key := newKey(t)
	iss, err := c.CreateCertificateFromCSR(ctx, csrFor(t, key), key)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterThing(ctx, fleetsim.DemoTemplate, iss.OwnershipToken, map[string]string{"SerialNumber": "stale"})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	opts.ClientID = reg.ThingName
	opts.Certificate = identity(t, iss, key)
	if err := ahead.Prove(ctx, opts); err != nil {
		t.Fatalf("Prove after the connection opened ahead died: %v", err)
	}
}

// relay ends the first connection it accepts and pipes the others to addr.
func relay(ln net.Listener, addr string) {
	for first := true; ; first = false {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if first {
			_ = conn.Close()
			continue
		}
		up, err := net.Dial("tcp", addr)
		if err != nil {
			_ = conn.Close()
			continue
		}
		go func() { _, _ = copyClose(up, conn) }()
		go func() { _, _ = copyClose(conn, up) }()
	}
}

func copyClose(dst, src net.Conn) (int64, error) {
	defer dst.Close()
	defer src.Close()
	return io.Copy(dst, src)
}

func traceEvents(t *testing.T, r *tracecheck.Recorder) []fleetsim.TraceEvent {
	t.Helper()
	evs, err := r.Events()
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
