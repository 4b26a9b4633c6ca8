package fleetsim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoOverLink serves one connection of a listener wrapped as the emulator
// wraps its own, echoing what it reads.
func echoOverLink(t *testing.T, link Link) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := newWire(link, nil)
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		conn, _ := w.accept(raw)
		defer conn.Close()
		_, _ = io.Copy(conn, conn)
	}()
	return ln.Addr().String()
}

// A request across the link takes at least the handshake's RTT plus its own.
func TestLinkDelaysRequestAndHandshake(t *testing.T) {
	const rtt = 200 * time.Millisecond
	addr := echoOverLink(t, Link{RTT: rtt})
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	if string(got) != "ping" {
		t.Fatalf("echo %q, want ping", got)
	}
	if first < 2*rtt {
		t.Errorf("first request answered after %s, want at least %s (the TCP handshake's RTT and the request's)", first, 2*rtt)
	}
	// Once the connection is up, a request costs one RTT.
	start = time.Now()
	if _, err := conn.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < rtt {
		t.Errorf("second request answered after %s, want at least %s", d, rtt)
	}
}

// Bytes arrive in the order they were sent, jitter or not.
func TestLinkKeepsByteOrder(t *testing.T) {
	addr := echoOverLink(t, Link{RTT: 4 * time.Millisecond, Jitter: 10 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	const n = 3000
	go func() {
		// Many small writes, so that many chunks each draw their own jitter.
		for i := range n {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(i))
			if _, err := conn.Write(b[:]); err != nil {
				return
			}
		}
	}()
	got := make([]byte, 4*n)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if v := binary.BigEndian.Uint32(got[4*i:]); v != uint32(i) {
			t.Fatalf("word %d is %d: bytes reordered", i, v)
		}
	}
}

// A read deadline ends a Read waiting on the link.
func TestLinkReadDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn := newLinkConn(raw, Link{RTT: time.Hour}, time.Now())
	defer conn.Close()
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
}

func TestLinkValidate(t *testing.T) {
	for _, l := range []Link{{RTT: -1}, {Jitter: -1}, {Loss: 1.5}, {Loss: -0.1}} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v: no error", l)
		}
	}
	if err := (Link{RTT: time.Second, Jitter: time.Millisecond, Loss: 0.5}).Validate(); err != nil {
		t.Errorf("valid link refused: %v", err)
	}
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
