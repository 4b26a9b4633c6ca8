package fleet_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
)

// emulator is a fleetsim instance in a temp folder, with the claim it made.
type emulator struct {
	dir   string
	srv   *fleetsim.Server
	roots *x509.CertPool
	claim tls.Certificate
}

func startEmulator(t *testing.T, faults ...string) *emulator {
	t.Helper()
	return startEmulatorWith(t, nil, faults...)
}

// startEmulatorWith runs the emulator on clk (nil: the real clock).
func startEmulatorWith(t *testing.T, clk clock.Clock, faults ...string) *emulator {
	t.Helper()
	return startEmulatorEdit(t, func(opts *fleetsim.Options) {
		opts.Clock = clk
		for _, spec := range faults {
			f, err := fleetsim.ParseFault(spec)
			if err != nil {
				t.Fatalf("ParseFault(%q): %v", spec, err)
			}
			opts.Faults = append(opts.Faults, f)
		}
	})
}

// startEmulatorEdit runs the emulator with the options edit adjusts.
func startEmulatorEdit(t *testing.T, edit func(*fleetsim.Options)) *emulator {
	t.Helper()
	dir := t.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{Listen: "127.0.0.1:0"}); err != nil {
		t.Fatalf("fleetsim.Init: %v", err)
	}
	opts := fleetsim.Options{Dir: dir, Listen: "127.0.0.1:0", ALPNListen: "127.0.0.1:0", Logger: zaptest.NewLogger(t)}
	edit(&opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := fleetsim.Start(ctx, opts)
	if err != nil {
		t.Fatalf("fleetsim.Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e := &emulator{dir: dir, srv: srv, roots: x509.NewCertPool()}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil || !e.roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read ca.pem: %v", err)
	}
	e.claim, err = tls.LoadX509KeyPair(filepath.Join(dir, "claim.pem.crt"), filepath.Join(dir, "claim.pem.key"))
	if err != nil {
		t.Fatalf("load claim: %v", err)
	}
	return e
}

func (e *emulator) options(t *testing.T, f fleet.Format) fleet.Options {
	return fleet.Options{
		Endpoint:        e.srv.Addr(),
		RootCAs:         e.roots,
		Certificate:     e.claim,
		ClientID:        "claim-" + filepath.Base(t.Name()),
		Format:          f,
		ResponseTimeout: 10 * time.Second,
		ConnectTimeout:  10 * time.Second,
		Logger:          zaptest.NewLogger(t),
	}
}

func (e *emulator) dial(t *testing.T, o fleet.Options) *fleet.Client {
	t.Helper()
	c, err := fleet.Dial(ctxFor(t), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrFor(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// issue gets a certificate by method (csr or create-keys); key is the CSR's, nil for create-keys.
func issue(t *testing.T, ctx context.Context, c *fleet.Client, method string) (iss *fleet.Issued, key crypto.Signer) {
	t.Helper()
	var err error
	if method == "csr" {
		key = newKey(t)
		iss, err = c.CreateCertificateFromCSR(ctx, csrFor(t, key), key)
	} else {
		iss, err = c.CreateKeysAndCertificate(ctx)
	}
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return iss, key
}

// identity turns an issued answer (and the CSR key, if any) into a TLS certificate.
func identity(t *testing.T, iss *fleet.Issued, key crypto.Signer) tls.Certificate {
	t.Helper()
	if key == nil {
		c, err := tls.X509KeyPair(iss.CertificatePEM, iss.PrivateKeyPEM)
		if err != nil {
			t.Fatalf("issued key pair: %v", err)
		}
		return c
	}
	return tls.Certificate{Certificate: [][]byte{iss.Certificate.Raw}, PrivateKey: key, Leaf: iss.Certificate}
}

func certStatus(e *emulator, id string) string {
	for _, c := range e.srv.Snapshot().Certificates {
		if c.CertificateID == id {
			return c.Status
		}
	}
	return "absent"
}

func TestEmulatorProvisioning(t *testing.T) {
	e := startEmulator(t)
	for _, method := range []string{"csr", "create-keys"} {
		for _, f := range []fleet.Format{fleet.JSON, fleet.CBOR} {
			t.Run(method+"/"+string(f), func(t *testing.T) {
				ctx := ctxFor(t)
				c := e.dial(t, e.options(t, f))
				iss, key := issue(t, ctx, c, method)
				if got := certStatus(e, iss.CertificateID); got != fleetsim.StatusPendingActivation {
					t.Errorf("certificate status after issue = %s, want PENDING_ACTIVATION", got)
				}

				// A pending certificate is refused at CONNECT.
				device := e.options(t, f)
				device.ClientID = "device-" + filepath.Base(t.Name())
				device.Certificate = identity(t, iss, key)
				if err := fleet.Prove(ctx, device); err == nil {
					t.Error("Prove accepted a certificate still pending activation")
				}

				serial := method + "-" + string(f)
				reg, err := c.RegisterThing(ctx, fleetsim.DemoTemplate, iss.OwnershipToken, map[string]string{"SerialNumber": serial})
				if err != nil {
					t.Fatalf("RegisterThing: %v", err)
				}
				if reg.ThingName != "gw-"+serial {
					t.Errorf("thingName = %q, want gw-%s", reg.ThingName, serial)
				}
				if got := certStatus(e, iss.CertificateID); got != "ACTIVE" {
					t.Errorf("certificate status after RegisterThing = %s, want ACTIVE", got)
				}
				_ = c.Close()
				if err := fleet.Prove(ctx, device); err != nil {
					t.Errorf("Prove with the registered certificate: %v", err)
				}

				// The token is single use.
				c2 := e.dial(t, e.options(t, f))
				_, err = c2.RegisterThing(ctx, fleetsim.DemoTemplate, iss.OwnershipToken, map[string]string{"SerialNumber": serial})
				if fleet.Classify(err) != fleet.KindInvalidToken {
					t.Errorf("reused token: %v (%v), want invalid-token", err, fleet.Classify(err))
				}
			})
		}
	}
}

func TestEmulatorRejections(t *testing.T) {
	e := startEmulator(t)
	for _, f := range []fleet.Format{fleet.JSON, fleet.CBOR} {
		t.Run(string(f), func(t *testing.T) {
			ctx := ctxFor(t)
			c := e.dial(t, e.options(t, f))
			_, err := c.RegisterThing(ctx, fleetsim.DemoTemplate, "not-a-token", nil)
			var rej *fleet.RejectedError
			if !errors.As(err, &rej) || rej.StatusCode != 400 || fleet.Classify(err) != fleet.KindInvalidToken {
				t.Errorf("unknown token: %v", err)
			}
			key := newKey(t)
			iss, err := c.CreateCertificateFromCSR(ctx, csrFor(t, key), key)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.RegisterThing(ctx, "NoSuchTemplate", iss.OwnershipToken, nil)
			if !errors.As(err, &rej) || rej.StatusCode != 404 || fleet.Classify(err) != fleet.KindPermanent {
				t.Errorf("unknown template: %v", err)
			}
		})
	}
}

func TestEmulatorFaults(t *testing.T) {
	cases := []struct {
		fault   string
		op      string
		timeout time.Duration
		check   func(t *testing.T, err error)
	}{
		{"register:reject=500:1", "register", 0, func(t *testing.T, err error) {
			var rej *fleet.RejectedError
			if !errors.As(err, &rej) || rej.StatusCode != 500 || fleet.Classify(err) != fleet.KindTransient {
				t.Errorf("got %v, want a transient 500", err)
			}
		}},
		{"create-from-csr:reject=429:1", "csr", 0, func(t *testing.T, err error) {
			if fleet.Classify(err) != fleet.KindTransient {
				t.Errorf("got %v, want transient", err)
			}
		}},
		{"create-keys:reject=403:1", "create-keys", 0, func(t *testing.T, err error) {
			if fleet.Classify(err) != fleet.KindPermanent {
				t.Errorf("got %v, want permanent", err)
			}
		}},
		{"any:drop:1", "csr", 300 * time.Millisecond, func(t *testing.T, err error) {
			if !errors.Is(err, fleet.ErrTimeout) || fleet.Classify(err) != fleet.KindTransient {
				t.Errorf("got %v, want a timeout", err)
			}
		}},
		{"register:delay=2s:1", "register", 300 * time.Millisecond, func(t *testing.T, err error) {
			if !errors.Is(err, fleet.ErrTimeout) {
				t.Errorf("got %v, want a timeout", err)
			}
		}},
		{"create-from-csr:disconnect:1", "csr", 0, func(t *testing.T, err error) {
			if !errors.Is(err, fleet.ErrConnectionLost) || fleet.Classify(err) != fleet.KindTransient {
				t.Errorf("got %v, want connection lost", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fault, func(t *testing.T) {
			e := startEmulator(t, tc.fault)
			ctx := ctxFor(t)
			o := e.options(t, fleet.JSON)
			c := e.dial(t, o)
			key := newKey(t)
			csr := csrFor(t, key)
			var token string
			if tc.op == "register" {
				iss, err := c.CreateCertificateFromCSR(ctx, csr, key)
				if err != nil {
					t.Fatal(err)
				}
				token = iss.OwnershipToken
			}
			call := func(c *fleet.Client, timeout time.Duration) error {
				cctx := ctx
				if timeout > 0 {
					var cancel context.CancelFunc
					cctx, cancel = context.WithTimeout(ctx, timeout)
					defer cancel()
				}
				var err error
				switch tc.op {
				case "csr":
					_, err = c.CreateCertificateFromCSR(cctx, csr, key)
				case "create-keys":
					_, err = c.CreateKeysAndCertificate(cctx)
				case "register":
					_, err = c.RegisterThing(cctx, fleetsim.DemoTemplate, token, map[string]string{"SerialNumber": "f"})
				}
				return err
			}
			tc.check(t, call(c, tc.timeout))
			// The fault had a count of one: a retry, on a new connection if the old one is gone, succeeds.
			_ = c.Close()
			c = e.dial(t, o)
			if err := call(c, 0); err != nil {
				t.Errorf("retry after the fault: %v", err)
			}
		})
	}
}

func TestEmulatorALPNListener(t *testing.T) {
	e := startEmulator(t)
	if e.srv.ALPNAddr() == "" {
		t.Fatal("no ALPN listener")
	}
	o := e.options(t, fleet.CBOR)
	o.Endpoint = e.srv.ALPNAddr()
	if _, err := fleet.Dial(ctxFor(t), o); err == nil {
		t.Error("the ALPN listener took a connection that offered no ALPN")
	}
	o.AlwaysALPN = true
	c := e.dial(t, o)
	key := newKey(t)
	if _, err := c.CreateCertificateFromCSR(ctxFor(t), csrFor(t, key), key); err != nil {
		t.Fatalf("over ALPN: %v", err)
	}
}

func TestEmulatorWrongRootCA(t *testing.T) {
	e := startEmulator(t)
	other := startEmulator(t)
	o := e.options(t, fleet.JSON)
	o.RootCAs = other.roots
	_, err := fleet.Dial(ctxFor(t), o)
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) || fleet.Classify(err) != fleet.KindPermanent {
		t.Fatalf("got %v, want an unknown-authority error", err)
	}
}

func TestEmulatorUnknownCertificateRefused(t *testing.T) {
	e := startEmulator(t)
	// A certificate signed by the emulator's CA but never registered.
	caCert, err := tls.LoadX509KeyPair(filepath.Join(e.dir, "ca.pem"), filepath.Join(e.dir, "ca.key"))
	if err != nil {
		t.Fatalf("load CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big1(), Subject: pkix.Name{CommonName: "stranger"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caCert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	o := e.options(t, fleet.JSON)
	o.Certificate = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	if err := fleet.Prove(ctxFor(t), o); err == nil || fleet.Classify(err) != fleet.KindPermanent {
		t.Fatalf("Prove with an unregistered certificate: %v (%v), want a permanent refusal", err, fleet.Classify(err))
	}
}

func big1() *big.Int { return big.NewInt(time.Now().UnixNano()) }

func TestEmulatorExpiredToken(t *testing.T) {
	clk := clock.NewFake(false)
	clk.Jump(time.Since(clk.Now())) // the real time, at which the emulator's certificates are valid
	e := startEmulatorWith(t, clk)
	ctx := ctxFor(t)
	c := e.dial(t, e.options(t, fleet.CBOR))
	key := newKey(t)
	iss, err := c.CreateCertificateFromCSR(ctx, csrFor(t, key), key)
	if err != nil {
		t.Fatal(err)
	}
	clk.Jump(time.Hour + time.Minute)
	_, err = c.RegisterThing(ctx, fleetsim.DemoTemplate, iss.OwnershipToken, map[string]string{"SerialNumber": "late"})
	if fleet.Classify(err) != fleet.KindInvalidToken {
		t.Fatalf("RegisterThing with an expired token: %v (%v), want invalid-token", err, fleet.Classify(err))
	}
}
