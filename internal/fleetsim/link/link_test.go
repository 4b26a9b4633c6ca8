package link

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoOverLink serves one connection of a listener wrapped as the emulator
// wraps its own, echoing what it reads.
func echoOverLink(t *testing.T, link Params) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := NewWire(link, nil)
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		conn, _ := w.Accept(raw)
		defer conn.Close()
		_, _ = io.Copy(conn, conn)
	}()
	return ln.Addr().String()
}

// A request across the link takes at least the handshake's RTT plus its own.
func TestLinkDelaysRequestAndHandshake(t *testing.T) {
	const rtt = 200 * time.Millisecond
	addr := echoOverLink(t, Params{RTT: rtt})
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
	addr := echoOverLink(t, Params{RTT: 4 * time.Millisecond, Jitter: 10 * time.Millisecond})
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
	conn := newLinkConn(raw, Params{RTT: time.Hour}, time.Now())
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
	for _, l := range []Params{{RTT: -1}, {Jitter: -1}, {Loss: 1.5}, {Loss: -0.1}, {Stall: 2}, {Stall: -0.5}} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v: no error", l)
		}
	}
	if err := (Params{RTT: time.Second, Jitter: time.Millisecond, Loss: 0.5}).Validate(); err != nil {
		t.Errorf("valid link refused: %v", err)
	}
}
