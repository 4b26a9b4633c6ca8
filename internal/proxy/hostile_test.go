package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/fleet"
)

// answering is a proxy on 127.0.0.1 that reads a CONNECT request and then
// writes head followed by pad repeated until the client goes away.
func answering(t *testing.T, head, pad string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				if _, err := io.WriteString(c, head); err != nil || pad == "" {
					io.Copy(io.Discard, c)
					return
				}
				chunk := strings.Repeat(pad, 32<<10/len(pad))
				for {
					if _, err := io.WriteString(c, chunk); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// An answer to CONNECT longer than MaxAnswer, however it is shaped, ends
// the dial with ErrAnswerTooLarge, transient.
func TestHostileEndlessProxyAnswers(t *testing.T) {
	for name, tc := range map[string]struct{ head, pad string }{
		"status line":          {"HTTP/1.1 200 ", "x"},
		"one header":           {"HTTP/1.1 200 OK\r\nX-Pad: ", "a"},
		"many headers":         {"HTTP/1.1 200 OK\r\n", "X-Pad: a\r\n"},
		"a 200 with a body":    {"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", "b"},
		"a chunked 200 body":   {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "1\r\nb\r\n"},
		"a 407 without an end": {"HTTP/1.1 407 Proxy Authentication Required\r\n", "X-Pad: a\r\n"},
	} {
		t.Run(name, func(t *testing.T) {
			addr := answering(t, tc.head, tc.pad)
			_, err := through(t, "http://"+addr, nil).DialContext(context.Background(), "tcp", "iot.example:8883")
			if !errors.Is(err, ErrAnswerTooLarge) || fleet.Classify(err) != fleet.KindTransient {
				t.Fatalf("dial: %v, want %v, transient", err, ErrAnswerTooLarge)
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("the error does not name the proxy %s: %v", addr, err)
			}
		})
	}
}

// Bytes a proxy sends after its 200 belong to the tunnel, even though
// they were read with the answer.
func TestBytesAfterTheAnswerReachTheTunnel(t *testing.T) {
	addr := answering(t, "HTTP/1.1 200 OK\r\n\r\nearly bytes\n", "")
	conn, err := through(t, "http://"+addr, nil).DialContext(context.Background(), "tcp", "iot.example:8883")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "early bytes\n" {
		t.Fatalf("read %q, %v; want the early bytes", line, err)
	}
}
