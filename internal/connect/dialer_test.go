package connect

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
)

// testConfig is the config fleetsim init writes, its endpoint at addr
// (nothing need listen there).
func testConfig(t *testing.T, addr string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{Listen: addr}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "provisiond.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Only a session that receives a private key offers the post-quantum key
// exchange; a CSR session and the proving connection offer classical ones.
func TestOnlyCreateKeysSessionsOfferPostQuantumKeyExchange(t *testing.T) {
	for _, method := range []string{"csr", "create-keys"} {
		cfg := testConfig(t, "127.0.0.1:8883")
		cfg.CertificateMethod = method
		d := New(cfg, Options{ClientID: "gateway-0001"})
		cert, closeKey, err := d.ClaimFiles(cfg.Claims[0].Certificate, cfg.Claims[0].PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		defer closeKey()
		claim, err := d.ClaimOptions(cert)
		if err != nil {
			t.Fatal(err)
		}
		if want := method == "csr"; claim.ClassicalKeyExchange != want || claim.ClientID != "gateway-0001" {
			t.Errorf("%s claim session: classical %v, want %v; client ID %q", method, claim.ClassicalKeyExchange, want, claim.ClientID)
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

// stepOf is the words an error carries for the state machine's lastStep.
func stepOf(err error) string {
	var s interface{ Step() string }
	if errors.As(err, &s) {
		return s.Step()
	}
	return ""
}

// A failed dial, device session or proof carries check's words for its
// step, and keeps the library's text.
func TestFailuresCarryCheckWords(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := testConfig(t, addr)
	d := New(cfg, Options{ClientID: "gateway-0001"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cert, closeKey, err := d.ClaimFiles(cfg.Claims[0].Certificate, cfg.Claims[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	defer closeKey()
	_, dialErr := d.Dial(ctx, d.Claims()[0])
	_, deviceErr := d.DialDevice(ctx, "thing-1", "GatewayTemplate", cert)
	proveErr := d.Prove(ctx, "thing-1", cert)
	for what, err := range map[string]error{"Dial": dialErr, "DialDevice": deviceErr, "Prove": proveErr} {
		if step := stepOf(err); !strings.HasPrefix(step, "TCP: nothing listening at "+addr) {
			t.Errorf("%s: %v has step %q, want TCP: nothing listening at %s", what, err, step, addr)
		}
		if strings.HasPrefix(err.Error(), "TCP:") {
			t.Errorf("%s: the error's text %q is check's words, not the library's", what, err)
		}
	}
}

// A rejection keeps the service's own words: no step is put on it.
func TestRejectionsCarryNoStep(t *testing.T) {
	rej := &fleet.RejectedError{Operation: fleet.OpRegisterThing, StatusCode: 400, ErrorCode: "InvalidParameters"}
	if err := explained(rej, Explain); stepOf(err) != "" || err != error(rej) {
		t.Fatalf("explained(rejection) = %v with step %q, want the rejection as it is", err, stepOf(err))
	}
	if err := explained(errors.New("something new"), Explain); stepOf(err) != "" {
		t.Fatalf("an error no step is known for got the step %q", stepOf(err))
	}
}

// A claim that does not load names the setting, as check's config step does.
func TestClaimThatDoesNotLoadNamesTheFile(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:8883")
	cfg.Claims[0].PrivateKey = cfg.RootCA // a certificate, not a key
	_, _, err := New(cfg, Options{ClientID: "gw"}).ClaimFiles(cfg.Claims[0].Certificate, cfg.Claims[0].PrivateKey)
	if err == nil || !strings.Contains(err.Error(), "claim certificate "+cfg.Claims[0].Certificate) {
		t.Fatalf("Claim with a wrong key: %v, want an error naming %s", err, cfg.Claims[0].Certificate)
	}
	if _, err := New(cfg, Options{ClientID: "gw"}).Dial(context.Background(), claims.Claim{Ref: "claim"}); err == nil {
		t.Fatal("Dial with a claim that does not load succeeded")
	}
}
