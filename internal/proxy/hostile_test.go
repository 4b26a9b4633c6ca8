package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
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

// A proxy's words that echo the credentials it was sent never reach the
// error, whatever shape the echo takes.
func TestHostileProxyEchoingTheCredentials(t *testing.T) {
	const user, pw = "alice", "pr0xy-s3cret/pw"
	token := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
	for name, head := range map[string]string{
		"reason phrase":          "HTTP/1.1 407 Basic " + token + "\r\n\r\n",
		"reason, header named":   "HTTP/1.1 407 bad Proxy-Authorization: Basic " + token + "\r\n\r\n",
		"reason, user:password":  "HTTP/1.1 403 denied " + user + ":" + pw + "\r\n\r\n",
		"reason, the password":   "HTTP/1.1 403 denied (" + pw + ")\r\n\r\n",
		"reason, token reversed": "HTTP/1.1 407 basic " + reverse(token) + "\r\n\r\n",
		"malformed status line":  "HTTPX Basic " + token + "\r\n\r\n",
		"malformed header line":  "HTTP/1.1 200 OK\r\nBasic " + token + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			addr := answering(t, head, "")
			proxyURL := (&url.URL{Scheme: "http", User: url.UserPassword(user, pw), Host: addr}).String()
			_, err := through(t, proxyURL, nil).DialContext(context.Background(), "tcp", "iot.example:8883")
			if err == nil {
				t.Fatal("the dial succeeded")
			}
			for _, secret := range []string{token, reverse(token), pw, url.PathEscape(pw), url.QueryEscape(pw)} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error carries the credentials (%q): %v", secret, err)
				}
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("the error does not name the proxy %s: %v", addr, err)
			}
		})
	}
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"407 Proxy Authentication Required": "407 Proxy Authentication Required",
		"403 Basic dXNlcjpwdw==":            "403 Basic ***",
		"403 no\x00\x1b[31mred":             "403 no [31mred",
		"403 " + strings.Repeat("x", 200):   "403 " + strings.Repeat("x", maxShown-4) + "…",
		"403 pw-123 here":                   "403 *** here",
	} {
		if got := cleanText(in, []string{"pw-123"}); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
}
