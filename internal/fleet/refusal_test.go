package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawServer accepts connections on 127.0.0.1 and hands each to handle; it
// is stopped, and its handlers waited for, when the test ends.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// sendAlert reads the ClientHello record and answers with a fatal TLS
// alert, as a server refusing the handshake does.
func sendAlert(code byte) func(net.Conn) {
	return func(c net.Conn) {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(hdr[3])<<8|int64(hdr[4])); err != nil {
			return
		}
		_, _ = c.Write([]byte{21, 3, 3, 0, 2, 2, code}) // alert record: fatal, code
	}
}

// tlsThen completes a real TLS handshake (client certificate required but
// not checked) and then runs after on the TLS connection.
func tlsThen(p *testPKI, after func(*tls.Conn)) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAnyClientCert})
		if err := tc.Handshake(); err != nil {
			return
		}
		after(tc)
	}
}

// connack reads the CONNECT packet and answers with a CONNACK return code.
func connack(code byte) func(*tls.Conn) {
	return func(c *tls.Conn) {
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n, shift := int(hdr[1]&0x7f), 7
		for b := hdr[1]; b&0x80 != 0; shift += 7 {
			one := make([]byte, 1)
			if _, err := io.ReadFull(c, one); err != nil {
				return
			}
			b = one[0]
			n |= int(b&0x7f) << shift
		}
		if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
			return
		}
		_, _ = c.Write([]byte{0x20, 0x02, 0x00, code})
		_, _ = io.Copy(io.Discard, c)
	}
}

// proveAt makes a real proving CONNECT to addr with h's claim as the identity.
func proveAt(t *testing.T, h *harness, addr string, edit func(*Options)) error {
	t.Helper()
	o := h.options(t, JSON)
	o.Endpoint = addr
	o.ConnectTimeout = 2 * time.Second
	if edit != nil {
		edit(&o)
	}
	err := Prove(testContext(t), o)
	if err == nil {
		t.Fatal("the proof succeeded; the case expects a failure")
	}
	return err
}

func TestRefused(t *testing.T) {
	h := newHarness(t)
	p := h.pki
	stranger := newTestPKI(t)

	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}

	for _, tc := range []struct {
		name    string
		prove   func(t *testing.T) error
		refused bool
		reason  string
	}{
		// The service's verdicts.
		{"mochi CONNACK refusal", func(t *testing.T) error {
			b := startTestBroker(t, p, newFakeService(t, p).respond)
			b.setAllow(func(*x509.Certificate) bool { return false })
			return proveAt(t, h, b.addr, nil)
		}, true, "CONNACK refused"},
		{"CONNACK not authorised", func(t *testing.T) error {
			return proveAt(t, h, rawServer(t, tlsThen(p, connack(5))), nil)
		}, true, "CONNACK refused: not Authorized"},
		{"CONNACK bad user name or password", func(t *testing.T) error {
			return proveAt(t, h, rawServer(t, tlsThen(p, connack(4))), nil)
		}, true, "CONNACK refused: bad user name or password"},
		{"server's crypto/tls: certificate from an unknown CA", func(t *testing.T) error {
			b := startTestBroker(t, p, newFakeService(t, p).respond)
			return proveAt(t, h, b.addr, func(o *Options) {
				o.Certificate = stranger.issue(t, testKey(t), "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			})
		}, true, "tls: unknown certificate authority"},
		{"server's crypto/tls: certificate expired at a plausible clock", func(t *testing.T) error {
			b := startTestBroker(t, p, newFakeService(t, p).respond)
			return proveAt(t, h, b.addr, func(o *Options) {
				o.Certificate = p.issue(t, testKey(t), "", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
			})
		}, true, "tls: expired certificate"},
		{"alert: revoked certificate", func(t *testing.T) error { return proveAt(t, h, rawServer(t, sendAlert(44)), nil) }, true, "tls: revoked certificate"},
		{"alert: access denied", func(t *testing.T) error { return proveAt(t, h, rawServer(t, sendAlert(49)), nil) }, true, "tls: access denied"},
		{"alert: bad certificate", func(t *testing.T) error { return proveAt(t, h, rawServer(t, sendAlert(42)), nil) }, true, "tls: bad certificate"},
		{"alert: certificate unknown", func(t *testing.T) error { return proveAt(t, h, rawServer(t, sendAlert(46)), nil) }, true, "tls: unknown certificate"},

		// Not verdicts on the identity.
		{"our clock before the certificate's start", func(t *testing.T) error {
			b := startTestBroker(t, p, newFakeService(t, p).respond)
			return proveAt(t, h, b.addr, func(o *Options) {
				o.Certificate = p.issue(t, testKey(t), "", time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
			})
		}, false, ""},
		{"alert: internal error", func(t *testing.T) error { return proveAt(t, h, rawServer(t, sendAlert(80)), nil) }, false, ""},
		{"alert: handshake failure", func(t *testing.T) error { return proveAt(t, h, rawServer(t, sendAlert(40)), nil) }, false, ""},
		{"CONNACK server unavailable", func(t *testing.T) error {
			return proveAt(t, h, rawServer(t, tlsThen(p, connack(3))), nil)
		}, false, ""},
		{"CONNACK identifier rejected", func(t *testing.T) error {
			return proveAt(t, h, rawServer(t, tlsThen(p, connack(2))), nil)
		}, false, ""},
		{"connection refused", func(t *testing.T) error { return proveAt(t, h, closedPort(), nil) }, false, ""},
		{"EOF before TLS", func(t *testing.T) error { return proveAt(t, h, rawServer(t, func(net.Conn) {}), nil) }, false, ""},
		{"reset before TLS", func(t *testing.T) error {
			return proveAt(t, h, rawServer(t, func(c net.Conn) {
				_ = c.(*net.TCPConn).SetLinger(0)
				_, _ = c.Read(make([]byte, 1))
			}), nil)
		}, false, ""},
		{"EOF after TLS, before CONNACK", func(t *testing.T) error {
			return proveAt(t, h, rawServer(t, tlsThen(p, func(c *tls.Conn) { _, _ = c.Read(make([]byte, 1)) })), nil)
		}, false, ""},
		{"no answer until the connect timeout", func(t *testing.T) error {
			stop := make(chan struct{})
			addr := rawServer(t, func(net.Conn) { <-stop })
			t.Cleanup(func() { close(stop) })
			return proveAt(t, h, addr, func(o *Options) { o.ConnectTimeout = 300 * time.Millisecond })
		}, false, ""},
		{"the server's certificate fails our verification", func(t *testing.T) error {
			return proveAt(t, h, h.broker.addr, func(o *Options) { o.RootCAs = stranger.pool })
		}, false, ""},
		{"cancelled", func(t *testing.T) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			o := h.options(t, JSON)
			err := Prove(ctx, o)
			if err == nil {
				t.Fatal("proved with a cancelled context")
			}
			return err
		}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.prove(t)
			reason, refused := Refused(err)
			if refused != tc.refused {
				t.Fatalf("Refused(%v) = %v (%q), want %v", err, refused, reason, tc.refused)
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not name %q", reason, tc.reason)
			}
		})
	}
	if _, refused := Refused(nil); refused {
		t.Error("Refused(nil) is a refusal")
	}
	if _, refused := Refused(errors.New("something odd")); refused {
		t.Error("an unrecognised error is a refusal")
	}
}
