package check

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
)

// check's TLS step makes the daemon's own handshake for the claim session
// (connect's options): the hybrid post-quantum key exchange is offered only
// where the session receives a private key (create-keys).
func TestTLSStepOffersTheDaemonsKeyExchange(t *testing.T) {
	for _, method := range []string{"csr", "create-keys"} {
		dir := t.TempDir()
		rootCA, cert, key, server := pki(t, dir)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		offered := make(chan []tls.CurveID, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_ = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{server},
				GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					offered <- slices.Clone(h.SupportedCurves)
					return nil, errors.New("enough")
				}}).Handshake()
		}()
		cfg := &config.Config{
			Path: filepath.Join(dir, "config.yaml"), Endpoint: l.Addr().String(), RootCA: rootCA,
			Claims:   []config.Claim{{Certificate: cert, PrivateKey: key, Field: "claim"}},
			Template: config.Template{Name: "GatewayTemplate"}, PayloadFormat: "json", CertificateMethod: method,
		}
		results := Run(context.Background(), Options{Config: cfg, ClientID: "gw", Timeout: 5 * time.Second})
		var curves []tls.CurveID
		select {
		case curves = <-offered:
		default:
			t.Fatalf("%s: no ClientHello reached the server: %+v", method, results)
		}
		hybrid := slices.Contains(curves, tls.X25519MLKEM768)
		if want := method == "create-keys"; hybrid != want {
			t.Errorf("%s: the TLS step offered %v: hybrid %v, want %v as the daemon's session does", method, curves, hybrid, want)
		}
		for _, r := range results {
			if r.Name == connect.StepTLS && r.Status != Fail {
				t.Errorf("%s: the TLS step passed a server that ended the handshake: %+v", method, r)
			}
		}
	}
}
