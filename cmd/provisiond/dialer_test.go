package main

import (
	"crypto/tls"
	"testing"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
)

// Only a session that receives a private key offers the post-quantum key
// exchange; a CSR session and the proving connection offer classical ones.
func TestOnlyCreateKeysSessionsOfferPostQuantumKeyExchange(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	for _, method := range []string{"csr", "create-keys"} {
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg.CertificateMethod = method
		d := &fleetDialer{cfg: cfg, clientID: "gateway-0001"}
		claim, _, err := d.claimOptions()
		if err != nil {
			t.Fatal(err)
		}
		if want := method == "csr"; claim.ClassicalKeyExchange != want {
			t.Errorf("%s claim session: classical %v, want %v", method, claim.ClassicalKeyExchange, want)
		}
		cert, err := tls.LoadX509KeyPair(cfg.Claims[0].Certificate, cfg.Claims[0].PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		prove, err := d.proveOptions("thing-1", cert)
		if err != nil {
			t.Fatal(err)
		}
		if !prove.ClassicalKeyExchange || prove.ClientID != "thing-1" {
			t.Errorf("%s proving connection: classical %v, client ID %q", method, prove.ClassicalKeyExchange, prove.ClientID)
		}
	}
}
