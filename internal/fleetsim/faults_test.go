package fleetsim

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		spec string
		want Fault
		bad  bool
	}{
		{spec: "create-keys:drop", want: Fault{Operation: "create-keys", Action: FaultDrop}},
		{spec: "create-from-csr:delay=2s:3", want: Fault{Operation: "create-from-csr", Action: FaultDelay, Delay: 2 * time.Second, Count: 3}},
		{spec: "register:reject=503:1", want: Fault{Operation: "register", Action: FaultReject, Status: 503, Count: 1}},
		{spec: "any:disconnect", want: Fault{Operation: "any", Action: FaultDisconnect}},
		{spec: "register", bad: true},
		{spec: "publish:drop", bad: true},
		{spec: "register:explode", bad: true},
		{spec: "register:delay=soon", bad: true},
		{spec: "register:reject=200", bad: true},
		{spec: "register:drop:0", bad: true},
		{spec: "register:drop=1", bad: true},
		{spec: "register:drop:1:2", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseFault(tt.spec)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseFault(%q) accepted %+v", tt.spec, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
		}
		if again, err := ParseFault(got.String()); err != nil || again != got {
			t.Errorf("String() %q does not parse back: %+v %v", got.String(), again, err)
		}
	}
}

func TestFaultCountsAndOrder(t *testing.T) {
	fs := newFaultSet([]Fault{
		{Operation: "register", Action: FaultDelay, Delay: time.Second, Count: 1},
		{Operation: "any", Action: FaultReject, Status: 500, Count: 2},
		{Operation: "register", Action: FaultDrop},
	})
	p := fs.match(opRegister)
	if p.delay != time.Second || p.terminal == nil || p.terminal.Action != FaultReject {
		t.Fatalf("first register: %+v", p)
	}
	if p := fs.match(opCreateKeys); p.terminal == nil || p.terminal.Action != FaultReject {
		t.Fatalf("create-keys: %+v", p)
	}
	if p := fs.match(opRegister); p.delay != 0 || p.terminal == nil || p.terminal.Action != FaultDrop {
		t.Fatalf("third: %+v", p)
	}
	if p := fs.match(opCreateFromCSR); p.terminal != nil || p.delay != 0 {
		t.Fatalf("create-from-csr after the counts ran out: %+v", p)
	}
}

// faultsUsed reads how many requests fault i has hit.
func faultsUsed(s *Server, i int) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.used[i]
}

func TestFaultActions(t *testing.T) {
	dir := newDir(t)
	logger, msgs := logged(t)
	s := start(t, dir, func(o *Options) {
		o.Logger = logger
		o.Faults = []Fault{
			{Operation: "create-from-csr", Action: FaultDrop, Count: 1},
			{Operation: "create-keys", Action: FaultDelay, Delay: 10 * time.Millisecond, Count: 1},
			{Operation: "register", Action: FaultDisconnect, Count: 1},
		}
	})
	c, lost := dialWatched(t, s.Addr(), claimTLS(t, dir), "faulty")

	t.Run("drop", func(t *testing.T) {
		answers := subscribe(t, c, "$aws/certificates/create-from-csr/json/+")
		_, csr := newCSR(t)
		body := marshal(t, "json", map[string]string{"certificateSigningRequest": csr})
		c.Publish("$aws/certificates/create-from-csr/json", 1, false, body).WaitTimeout(waitFor)
		waitLogged(t, msgs, faultMessage)
		// The next request is answered, and it is the only answer.
		c.Publish("$aws/certificates/create-from-csr/json", 1, false, body).WaitTimeout(waitFor)
		select {
		case <-answers:
		case <-time.After(waitFor):
			t.Fatal("no answer after the dropped request")
		}
		select {
		case m := <-answers:
			t.Fatalf("the dropped request was answered: %s", m.topic)
		default:
		}
		c.Unsubscribe("$aws/certificates/create-from-csr/json/+").WaitTimeout(waitFor)
	})
	t.Run("delay", func(t *testing.T) {
		var iss issued
		wantAccepted(t, "json", call(t, c, "$aws/certificates/create/json", nil), &iss)
	})
	t.Run("disconnect", func(t *testing.T) {
		c.Publish("$aws/provisioning-templates/GatewayTemplate/provision/json", 1, false, []byte(`{}`))
		wantLost(t, lost, "the disconnect fault kept the connection")
	})
}

func TestCloseDoesNotWaitForDelays(t *testing.T) {
	dir := newDir(t)
	logger, msgs := logged(t)
	s := start(t, dir, func(o *Options) {
		o.Logger = logger
		o.Faults = []Fault{{Operation: "any", Action: FaultDelay, Delay: time.Hour}}
	})
	c := dial(t, s.Addr(), claimTLS(t, dir), "delayed")
	c.Publish("$aws/certificates/create/json", 1, false, []byte{}).WaitTimeout(waitFor)
	waitLogged(t, msgs, faultDelayMessage)
	closePromptly(t, s, waitFor, "Close waited for a delayed request")
}

func TestBadPayloadsNeverCrash(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	topics := []string{
		"$aws/certificates/create/json", "$aws/certificates/create/cbor",
		"$aws/certificates/create-from-csr/json", "$aws/certificates/create-from-csr/cbor",
		"$aws/provisioning-templates/GatewayTemplate/provision/json",
		"$aws/provisioning-templates/GatewayTemplate/provision/cbor",
	}
	junk := [][]byte{
		nil, []byte("null"), []byte("{"), []byte(`{"parameters": {"a": {"b": 1}}}`),
		[]byte(`{"certificateSigningRequest": null}`), bytes.Repeat([]byte("["), 10000),
		{0x9f, 0x9f, 0x9f, 0x9f}, {0xbf, 0x61, 0x61}, {0xa1, 0x78, 0xff},
	}
	random := make([]byte, 4096)
	_, _ = rand.Read(random)
	junk = append(junk, random)
	c := dial(t, s.Addr(), claimTLS(t, dir), "junk")
	for _, topic := range topics {
		format := topic[strings.LastIndex(topic, "/")+1:]
		for _, j := range junk {
			// A decoder panic would be answered 500 by handle's recover: only a 400
			// rejection is right (CreateKeysAndCertificate takes any payload it can read).
			m := call(t, c, topic, j)
			if strings.HasSuffix(m.topic, "/accepted") && strings.HasPrefix(topic, "$aws/certificates/create/") {
				continue
			}
			var r rejection
			if !strings.HasSuffix(m.topic, "/rejected") {
				t.Fatalf("%s %q answered on %s", topic, j, m.topic)
			}
			unmarshal(t, format, m.payload, &r)
			if r.StatusCode != 400 {
				t.Fatalf("%s %q answered %d %s %q, want 400", topic, j, r.StatusCode, r.ErrorCode, r.ErrorMessage)
			}
		}
	}
	// Oversized: the connection is closed, the emulator lives on.
	big, lost := dialWatched(t, s.Addr(), claimTLS(t, dir), "big")
	big.Publish("$aws/certificates/create-from-csr/json", 1, false, make([]byte, maxPayload+1))
	wantLost(t, lost, "a payload over 128 KB was accepted")
	fresh := dial(t, s.Addr(), claimTLS(t, dir), "after-junk")
	provisionCSR(t, fresh, "cbor", "0500")
}

func TestALPNListener(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) { o.ALPNListen = "127.0.0.1:0" })
	if s.ALPNAddr() == "" || s.ALPNAddr() == s.Addr() {
		t.Fatalf("ALPN address %q", s.ALPNAddr())
	}
	withALPN := func(cfg *tls.Config, protos ...string) *tls.Config {
		cfg.NextProtos = protos
		return cfg
	}
	handshake := func(addr string, cfg *tls.Config) (string, error) {
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		// TLS 1.3 reports a refused client certificate on the first read.
		_ = conn.SetDeadline(time.Now().Add(waitFor))
		return conn.ConnectionState().NegotiatedProtocol, conn.Handshake()
	}
	if p, err := handshake(s.ALPNAddr(), withALPN(claimTLS(t, dir), "x-amzn-mqtt-ca")); err != nil || p != "x-amzn-mqtt-ca" {
		t.Errorf("ALPN listener with x-amzn-mqtt-ca: %q %v", p, err)
	}
	c := dial(t, s.ALPNAddr(), withALPN(claimTLS(t, dir), "x-amzn-mqtt-ca"), "alpn-client")
	provisionCSR(t, c, "json", "0600")

	if _, err := tryDial(s.ALPNAddr(), claimTLS(t, dir), "no-alpn", nil); err == nil {
		t.Error("ALPN listener accepted a client that offered no ALPN")
	}
	// The main listener agrees to the protocol when offered and does not require it.
	if p, err := handshake(s.Addr(), withALPN(claimTLS(t, dir), "x-amzn-mqtt-ca")); err != nil || p != "x-amzn-mqtt-ca" {
		t.Errorf("main listener with ALPN: %q %v", p, err)
	}
	if p, err := handshake(s.Addr(), withALPN(claimTLS(t, dir), "mqtt")); err != nil || p != "" {
		t.Errorf("main listener with another protocol: %q %v", p, err)
	}
	// No SNI: the daemon connects by IP.
	cfg := claimTLS(t, dir)
	cfg.ServerName = "127.0.0.1"
	d := dial(t, s.Addr(), cfg, "by-ip")
	d.Disconnect(0)
}
