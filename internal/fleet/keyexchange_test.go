package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// offeredCurves runs a client handshake with o's TLS settings against a
// server that records the ClientHello and stops there.
func offeredCurves(t *testing.T, o Options) []tls.CurveID {
	t.Helper()
	s, err := o.settle()
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	defer client.Close()
	got := make(chan []tls.CurveID, 1)
	go func() {
		defer server.Close()
		srv := tls.Server(server, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			got <- slices.Clone(h.SupportedCurves)
			return nil, errors.New("enough")
		}})
		_ = srv.Handshake()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = tls.Client(client, s.tlsConfig()).HandshakeContext(ctx)
	select {
	case curves := <-got:
		return curves
	case <-ctx.Done():
		t.Fatal("no ClientHello")
		return nil
	}
}

func TestClassicalKeyExchangeOffersNoPostQuantumShare(t *testing.T) {
	h := newHarness(t)
	o := h.options(t, "")
	if curves := offeredCurves(t, o); !slices.Contains(curves, tls.X25519MLKEM768) {
		t.Errorf("default offers %v, want X25519MLKEM768 among them", curves)
	}
	o.ClassicalKeyExchange = true
	curves := offeredCurves(t, o)
	if slices.Contains(curves, tls.X25519MLKEM768) || !slices.Contains(curves, tls.X25519) || !slices.Contains(curves, tls.CurveP256) {
		t.Errorf("classical offers %v, want X25519 and P-256 only", curves)
	}
}
