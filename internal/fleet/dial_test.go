package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

func TestWrongRootCAFailsVerification(t *testing.T) {
	h := newHarness(t)
	opts := h.options(t, JSON)
	opts.RootCAs = newTestPKI(t).pool
	_, err := Dial(testContext(t), opts)
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Fatalf("got %v, want x509.UnknownAuthorityError", err)
	}
	if Classify(err) != KindPermanent {
		t.Errorf("Classify = %v, want permanent", Classify(err))
	}
}

func TestExpiredServerCertificateIsAClockError(t *testing.T) {
	p := newTestPKI(t)
	for name, window := range map[string][2]time.Time{
		"expired":       {time.Now().Add(-48 * time.Hour), time.Now().Add(-24 * time.Hour)},
		"not yet valid": {time.Now().Add(24 * time.Hour), time.Now().Add(48 * time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			srv := p.issue(t, testKey(t), "127.0.0.1", window[0], window[1])
			b := startTestBrokerWith(t, p, srv, newFakeService(t, p).respond)
			h := &harness{pki: p, broker: b, claim: p.issue(t, testKey(t), "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))}
			_, err := Dial(testContext(t), h.options(t, JSON))
			var inv x509.CertificateInvalidError
			if !errors.As(err, &inv) || inv.Reason != x509.Expired {
				t.Fatalf("got %v, want an x509 Expired error", err)
			}
			if Classify(err) != KindClock {
				t.Errorf("Classify = %v, want clock", Classify(err))
			}
		})
	}
}

// The server refusing our certificate as expired is about our clock only
// when our clock is before the certificate's start; a claim that expired at
// a plausible clock is permanent (no "waiting for a plausible clock" forever).
func TestExpiredClientCertificate(t *testing.T) {
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
		want                Kind
	}{
		{"expired at our clock too", time.Now().Add(-48 * time.Hour), time.Now().Add(-24 * time.Hour), KindPermanent},
		{"our clock before its start", time.Now().Add(24 * time.Hour), time.Now().Add(48 * time.Hour), KindClock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			opts := h.options(t, JSON)
			opts.Certificate = h.pki.issue(t, testKey(t), "", tc.notBefore, tc.notAfter)
			_, err := Dial(testContext(t), opts)
			if err == nil {
				t.Fatal("connected with a certificate outside its validity")
			}
			if Classify(err) != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", err, Classify(err), tc.want)
			}
			if !strings.Contains(err.Error(), "expired certificate") {
				t.Errorf("error %q does not say the server found our certificate expired", err)
			}
		})
	}
}

func TestProve(t *testing.T) {
	h := newHarness(t)
	key := testKey(t)
	device := h.pki.issue(t, key, "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	known := map[string]bool{string(device.Leaf.Raw): true}
	h.broker.setAllow(func(c *x509.Certificate) bool { return known[string(c.Raw)] })

	opts := h.options(t, JSON)
	opts.Certificate = device
	if err := Prove(testContext(t), opts); err != nil {
		t.Fatalf("Prove with a known certificate: %v", err)
	}
	opts.Certificate = h.pki.issue(t, testKey(t), "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	err := Prove(testContext(t), opts)
	if !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("Prove with an unknown certificate: %v, want not authorised", err)
	}
	if Classify(err) != KindPermanent {
		t.Errorf("Classify = %v, want permanent", Classify(err))
	}
}

func TestDialTimeoutAndCancel(t *testing.T) {
	// A listener that completes TCP but never speaks TLS.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := newHarness(t)
	opts := h.options(t, JSON)
	opts.Endpoint = ln.Addr().String()
	opts.ConnectTimeout = 200 * time.Millisecond
	_, err = Dial(testContext(t), opts)
	if !errors.Is(err, ErrTimeout) || Classify(err) != KindTransient {
		t.Fatalf("got %v, want ErrTimeout", err)
	}

	opts.ConnectTimeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the dial is under way.
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
		}
		cancel()
	}()
	_, err = Dial(ctx, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	h := newHarness(t)
	base := h.options(t, JSON)
	cases := []struct {
		name  string
		edit  func(o *Options)
		field string
	}{
		{"empty endpoint", func(o *Options) { o.Endpoint = "" }, "Endpoint"},
		{"bad port", func(o *Options) { o.Endpoint = "host:99999" }, "Endpoint"},
		{"no host", func(o *Options) { o.Endpoint = ":8883" }, "Endpoint"},
		{"no roots", func(o *Options) { o.RootCAs = nil }, "RootCAs"},
		{"no certificate", func(o *Options) { o.Certificate = tls.Certificate{} }, "Certificate"},
		{"empty client id", func(o *Options) { o.ClientID = "" }, "ClientID"},
		{"long client id", func(o *Options) { o.ClientID = strings.Repeat("c", 129) }, "ClientID"},
		{"format", func(o *Options) { o.Format = "xml" }, "Format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			_, err := Dial(testContext(t), o)
			var oe *OptionsError
			if !errors.As(err, &oe) || oe.Field != tc.field {
				t.Fatalf("got %v, want an error on %s", err, tc.field)
			}
			if Classify(err) != KindPermanent {
				t.Errorf("Classify = %v", Classify(err))
			}
		})
	}
	o := base
	o.ClientID = strings.Repeat("c", 128)
	c, err := Dial(testContext(t), o)
	if err != nil {
		t.Fatalf("128-byte client id: %v", err)
	}
	_ = c.Close()
}

func TestSettings(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		0: 60 * time.Second, time.Second: 30 * time.Second, 45 * time.Second: 45 * time.Second,
		time.Hour: 1200 * time.Second,
	} {
		if got := ClampKeepAlive(in); got != want {
			t.Errorf("ClampKeepAlive(%s) = %s, want %s", in, got, want)
		}
	}
	h := newHarness(t)
	o := h.options(t, "")
	o.Endpoint = "abc-ats.iot.eu-west-1.amazonaws.com:443"
	o.ResponseTimeout, o.ConnectTimeout = 0, 0
	s, err := o.settle()
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.tlsConfig()
	if cfg.ServerName != "abc-ats.iot.eu-west-1.amazonaws.com" || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != ALPNProtocol {
		t.Errorf("port 443: ServerName %q, ALPN %v", cfg.ServerName, cfg.NextProtos)
	}
	if cfg.InsecureSkipVerify || cfg.RootCAs != o.RootCAs {
		t.Error("server verification is not set up")
	}
	if s.Format != JSON || s.ResponseTimeout != DefaultResponseTimeout || s.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("defaults not applied: %+v", s)
	}
	o.Endpoint = "abc-ats.iot.eu-west-1.amazonaws.com"
	s, err = o.settle()
	if err != nil || s.port != DefaultPort || len(s.tlsConfig().NextProtos) != 0 {
		t.Errorf("bare host: port %q, ALPN %v, %v", s.port, s.tlsConfig().NextProtos, err)
	}
}
