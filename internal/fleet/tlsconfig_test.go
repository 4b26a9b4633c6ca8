package fleet

import (
	"crypto/x509"
	"errors"
	"slices"
	"testing"
)

// TLSConfig is the configuration the client's own connections use: the
// endpoint's name, ALPN on 443 only, the classical key exchange when asked.
func TestTLSConfigIsTheClientsOwn(t *testing.T) {
	pool := x509.NewCertPool()
	for _, tc := range []struct {
		endpoint  string
		alpn      bool
		classical bool
	}{
		{"iot.example:8883", false, false},
		{"iot.example:443", true, true},
		{"iot.example", false, true}, // the default port
	} {
		o := Options{Endpoint: tc.endpoint, RootCAs: pool, ClassicalKeyExchange: tc.classical}
		cfg, err := o.TLSConfig()
		if err != nil {
			t.Fatalf("%s: %v", tc.endpoint, err)
		}
		if cfg.ServerName != "iot.example" || cfg.RootCAs != pool {
			t.Errorf("%s: server name %q, root CAs %p; want iot.example and the options'", tc.endpoint, cfg.ServerName, cfg.RootCAs)
		}
		if got := slices.Contains(cfg.NextProtos, ALPNProtocol); got != tc.alpn {
			t.Errorf("%s: ALPN %v, want %v", tc.endpoint, cfg.NextProtos, tc.alpn)
		}
		if got := len(cfg.CurvePreferences) > 0; got != tc.classical {
			t.Errorf("%s: curve preferences %v with classical %v", tc.endpoint, cfg.CurvePreferences, tc.classical)
		}
	}
	var oe *OptionsError
	if _, err := (Options{Endpoint: "iot.example:99999"}).TLSConfig(); !errors.As(err, &oe) || oe.Field != "Endpoint" {
		t.Fatalf("TLSConfig with a bad port: %v, want an OptionsError for Endpoint", err)
	}
}
