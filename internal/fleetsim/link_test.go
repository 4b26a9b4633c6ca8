package fleetsim

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Start refuses a link it cannot emulate, naming the setting.
func TestStartRefusesBadLink(t *testing.T) {
	dir := newDir(t)
	if _, err := Start(t.Context(), Options{Dir: dir, Listen: "127.0.0.1:0", Link: Link{RTT: -time.Second}}); err == nil ||
		!strings.Contains(err.Error(), "RTT") {
		t.Errorf("Start with a negative RTT: %v", err)
	}
}

// The trace records each connection and its packets in order, with the
// client ID, the SUBSCRIBE's filters and the PUBLISH topics.
func TestTraceRecordsPackets(t *testing.T) {
	dir := newDir(t)
	var trace bytes.Buffer
	lockedTrace := &syncWriter{w: &trace}
	s := start(t, dir, func(o *Options) { o.Trace = lockedTrace; o.Link = Link{RTT: 2 * time.Millisecond} })
	c := dial(t, s.Addr(), claimTLS(t, dir), "traced")
	provisionCSR(t, c, "json", "T1")
	c.Disconnect(250)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadTrace(bytes.NewReader(lockedTrace.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, ev := range events {
		switch {
		case ev.Event != "packet":
			seq = append(seq, ev.Event)
		case ev.Packet == "CONNECT":
			seq = append(seq, "in CONNECT "+ev.ClientID)
		case ev.Packet == "SUBSCRIBE":
			seq = append(seq, "in SUBSCRIBE "+strings.Join(ev.Topics, ","))
		case ev.Packet == "PUBLISH":
			seq = append(seq, ev.Dir+" PUBLISH "+ev.Topic)
		default:
			seq = append(seq, ev.Dir+" "+ev.Packet)
		}
	}
	got := strings.Join(seq, "\n")
	want := []string{"open", "tls", "in CONNECT traced", "out CONNACK",
		"in SUBSCRIBE $aws/certificates/create-from-csr/json/+", "out SUBACK",
		"in PUBLISH $aws/certificates/create-from-csr/json", "out PUBLISH $aws/certificates/create-from-csr/json/accepted"}
	at := 0
	for _, w := range want {
		i := strings.Index(got[at:], w)
		if i < 0 {
			t.Fatalf("trace lacks %q after position %d:\n%s", w, at, got)
		}
		at += i + len(w)
	}
	if !strings.Contains(got, "close") {
		t.Errorf("trace lacks the close:\n%s", got)
	}
}

// With a loss of 1 every request drops its connection, unanswered.
func TestLinkLossDropsRequests(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) { o.Link = Link{Loss: 1} })
	c, lost := dialWatched(t, s.Addr(), claimTLS(t, dir), "lossy")
	c.Publish("$aws/certificates/create/json", 1, false, []byte("{}"))
	wantLost(t, lost, "a request on a link with loss 1 kept its connection")
}

// syncWriter lets the test read what the emulator's goroutines wrote.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.w.Bytes()...)
}

// A stalled connection is half-open: the request gets no answer, and the
// device sees no FIN or RST, only silence, until it closes the connection
// itself.
func TestLinkStallLeavesConnectionHalfOpen(t *testing.T) {
	dir := newDir(t)
	var trace bytes.Buffer
	lockedTrace := &syncWriter{w: &trace}
	stallRequests := func(ev TraceEvent) bool { return ev.Packet == "PUBLISH" }
	s := start(t, dir, func(o *Options) { o.Trace = lockedTrace; o.Link = Link{StallIf: stallRequests} })
	c, lost := dialWatched(t, s.Addr(), claimTLS(t, dir), "stalled")
	tok := c.Publish("$aws/certificates/create/json", 1, false, []byte("{}"))
	// QoS 1: a live link answers with a PUBACK at once; a stalled one never.
	if tok.WaitTimeout(2 * time.Second) {
		t.Fatalf("a stalled request was acknowledged (err %v)", tok.Error())
	}
	select {
	case err := <-lost:
		t.Fatalf("the stalled connection was closed by the emulator (%v): want it left half-open", err)
	default:
	}
	c.Disconnect(0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadTrace(bytes.NewReader(lockedTrace.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var stalls, published int
	for _, ev := range events {
		switch {
		case ev.Event == "stall":
			stalls++
		case ev.Event == "packet" && ev.Packet == "PUBLISH":
			published++
		}
	}
	if stalls != 1 || published != 0 {
		t.Errorf("trace has %d stalls and %d PUBLISH packets, want 1 stall and no PUBLISH through", stalls, published)
	}
}
