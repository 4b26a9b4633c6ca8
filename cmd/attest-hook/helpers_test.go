package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
)

func TestMain(m *testing.M) {
	code := m.Run()
	attesttest.RemoveBuilt()
	os.Exit(code)
}

// emulator is fleetsim, in process, with attest.ExampleTemplate (whose
// hook is hookURL) as the template.
type emulator struct {
	srv   *fleetsim.Server
	roots *x509.CertPool
	claim tls.Certificate
}

func startEmulator(t *testing.T, template, hookURL string) *emulator {
	t.Helper()
	dir := t.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{Listen: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{template + ".json": []byte(attest.ExampleTemplate),
		template + ".settings.json": attesttest.TemplateSettings(hookURL)} {
		if err := os.WriteFile(filepath.Join(dir, "templates", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := fleetsim.Start(ctx, fleetsim.Options{Dir: dir, Listen: "127.0.0.1:0", ALPNListen: "127.0.0.1:0", Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e := &emulator{srv: srv, roots: x509.NewCertPool()}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil || !e.roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read ca.pem: %v", err)
	}
	if e.claim, err = tls.LoadX509KeyPair(filepath.Join(dir, "claim.pem.crt"), filepath.Join(dir, "claim.pem.key")); err != nil {
		t.Fatal(err)
	}
	return e
}

// device is a claim session of a device whose new key is key.
type device struct {
	c        *fleet.Client
	clientID string
	key      crypto.Signer
}

func (e *emulator) device(t *testing.T, clientID string, key crypto.Signer) *device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := fleet.Dial(ctx, fleet.Options{Endpoint: e.srv.Addr(), RootCAs: e.roots, Certificate: e.claim, ClientID: clientID,
		Format: fleet.JSON, ResponseTimeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &device{c: c, clientID: clientID, key: key}
}

// provision gets a certificate for the device's key and registers it with
// the parameters that attestation (given the message of this
// provisioning) returns.
func (d *device) provision(t *testing.T, template string, attestation func(attest.Message) map[string]string) (*fleet.Registration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	csr, err := keypair.CSR(d.key, "device")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := d.c.CreateCertificateFromCSR(ctx, csr, d.key)
	if err != nil {
		t.Fatal(err)
	}
	m := attest.Message{CertificateID: iss.CertificateID, TemplateName: template, ClientID: d.clientID,
		SPKI: iss.Certificate.RawSubjectPublicKeyInfo}
	return d.c.RegisterThing(ctx, template, iss.OwnershipToken, attestation(m))
}
