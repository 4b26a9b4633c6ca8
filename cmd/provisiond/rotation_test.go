package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

// provenDialer records the certificate ids the service accepted in a
// proving connect, before Prove returns.
type provenDialer struct {
	statemachine.Dialer
	mu     sync.Mutex
	proven map[string]bool
}

func (p *provenDialer) Prove(ctx context.Context, thingName string, cert tls.Certificate) error {
	err := p.Dialer.Prove(ctx, thingName, cert)
	if err == nil && len(cert.Certificate) > 0 {
		sum := sha256.Sum256(cert.Certificate[0])
		p.mu.Lock()
		p.proven[hex.EncodeToString(sum[:])] = true
		p.mu.Unlock()
	}
	return err
}

func (p *provenDialer) wasProven(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proven[id]
}

// pemCertificateID is AWS's certificate id: the SHA-256 of the DER.
func pemCertificateID(certPEM []byte) string {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// runDaemonProving runs the daemon for path until the test ends, its
// proofs recorded.
func runDaemonProving(t *testing.T, path string) (*config.Config, *provenDialer) {
	t.Helper()
	p := &provenDialer{proven: map[string]bool{}}
	cfg := runDaemonWrapped(t, path, func(real statemachine.Dialer) statemachine.Dialer {
		p.mu.Lock()
		p.Dialer = real
		p.mu.Unlock()
		return p
	})
	return cfg, p
}

// runDaemonWrapped runs the daemon for path until the test ends, its
// dialer wrapped.
func runDaemonWrapped(t *testing.T, path string, wrap func(statemachine.Dialer) statemachine.Dialer) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	startTestDaemon(t, &testDaemon{path: path, logger: zaptest.NewLogger(t), wrapDialer: wrap}, cfg)
	return cfg
}

// iotAPI is the AWS SDK's IoT client on the emulator's control-plane API.
func iotAPI(srv *fleetsim.Server) *iot.Client {
	return iot.New(iot.Options{
		BaseEndpoint: aws.String("http://" + srv.APIAddr()),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
	})
}

func certificateStatus(t *testing.T, api *iot.Client, id string) iottypes.CertificateStatus {
	t.Helper()
	out, err := api.DescribeCertificate(context.Background(), &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
	if err != nil {
		t.Fatalf("DescribeCertificate %s: %v", id, err)
	}
	return out.CertificateDescription.Status
}

func revoke(t *testing.T, api *iot.Client, id string) {
	t.Helper()
	if _, err := api.UpdateCertificate(context.Background(), &iot.UpdateCertificateInput{
		CertificateId: aws.String(id), NewStatus: iottypes.CertificateStatusRevoked}); err != nil {
		t.Fatalf("UpdateCertificate REVOKED: %v", err)
	}
}

// handoffReader reads credentials.json and the files it names as a
// consumer does, as fast as it can.
type handoffReader struct {
	reads, mismatches atomic.Int64
	mu                sync.Mutex
	seen              []string // certificate ids in the order first read
	unproven          []string // ids read before the daemon's proof of them returned
}

func (h *handoffReader) run(ctx context.Context, dir string, proven func(string) bool) {
	path := filepath.Join(dir, store.CredentialsFile)
	for ctx.Err() == nil {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var c store.Credentials
		if json.Unmarshal(data, &c) != nil {
			h.mismatches.Add(1) // a torn credentials.json
			continue
		}
		certPEM, cerr := os.ReadFile(c.CertificateFile)
		keyPEM, kerr := os.ReadFile(c.PrivateKeyFile)
		if cerr != nil || kerr != nil {
			continue // an identity two handovers old, removed between the reads
		}
		h.reads.Add(1)
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil || pemCertificateID(certPEM) != c.CertificateID {
			h.mismatches.Add(1)
		}
		h.mu.Lock()
		if n := len(h.seen); n == 0 || h.seen[n-1] != c.CertificateID {
			h.seen = append(h.seen, c.CertificateID)
			if !proven(c.CertificateID) {
				h.unproven = append(h.unproven, c.CertificateID)
			}
		}
		h.mu.Unlock()
	}
}

func (h *handoffReader) identities() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// With 3-second certificates and before_expiry: 50%, the daemon rotates by
// itself, again and again. Each new certificate is proven before
// credentials.json names it and is ACTIVE in the registry, and a consumer
// reading the handoff all along never gets a certificate with another's key.
func TestDaemonRotatesByItselfBeforeExpiry(t *testing.T) {
	const rotations = 2
	path, srv := startEmulator(t, fleetsim.Options{CertificateValidity: 3 * time.Second, APIListen: "127.0.0.1:0"},
		fastRetry+"rotation:\n  before_expiry: 50%\n")
	cfg, proven := runDaemonProving(t, path)
	first := registered(t, cfg.StateDirectory)
	if _, st := statusOf(t, path); st["rotationDueAt"] == nil {
		t.Errorf("status --json %v has no rotationDueAt", st)
	}

	reader := &handoffReader{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		reader.run(ctx, cfg.StateDirectory, proven.wasProven)
	}()
	// The emulator backdates a certificate's start by a minute, so that a
	// "3s" certificate is past half its life when issued: it is due halfway
	// through the life it has left (rotation.Policy.Due), a second or so.
	wctx, wcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	_ = awaitInDir(wctx, cfg.StateDirectory, func() bool { return len(reader.identities()) >= rotations+1 })
	wcancel()
	cancel()
	wg.Wait()
	ids := reader.identities()
	if len(ids) < rotations+1 || ids[0] != first.CertificateID {
		t.Fatalf("identities handed over %v, want %d rotations from %s", ids, rotations, first.CertificateID)
	}
	if n := reader.mismatches.Load(); n > 0 {
		t.Errorf("%d of %d reads saw a certificate and key that do not pair", n, reader.reads.Load())
	}
	if len(reader.unproven) > 0 {
		t.Errorf("credentials.json named %v before the daemon's proof of them returned", reader.unproven)
	}
	api := iotAPI(srv)
	for _, id := range ids[1:] {
		if s := certificateStatus(t, api, id); s != iottypes.CertificateStatusActive {
			t.Errorf("rotated certificate %s is %s in the registry", id, s)
		}
	}
	t.Logf("%d identities handed over, %d consumer reads, none mismatched", len(ids), reader.reads.Load())
}

// runReprovision runs `provisiond reprovision` in-process.
func runReprovision(t *testing.T, path string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cmdReprovision(append([]string{"--config", path}, args...), &out, &errOut)
	return code, out.String() + errOut.String()
}

// A certificate revoked over the control-plane API is replaced after
// `reprovision --if-refused`, which keeps an identity the service accepts.
func TestReprovisionIfRefused(t *testing.T) {
	path, srv := startEmulator(t, fleetsim.Options{APIListen: "127.0.0.1:0"}, fastRetry)
	cfg, _ := runDaemonProving(t, path)
	first := registered(t, cfg.StateDirectory)

	code, out := runReprovision(t, path, "--if-refused", "--wait", "30s")
	if code != exitOK || !strings.Contains(out, "identity accepted by the service: kept") {
		t.Fatalf("reprovision --if-refused on an accepted identity: exit %d, %q", code, out)
	}
	if c := registered(t, cfg.StateDirectory); c.CertificateID != first.CertificateID {
		t.Fatalf("an accepted identity was replaced by %s", c.CertificateID)
	}

	api := iotAPI(srv)
	revoke(t, api, first.CertificateID)
	code, out = runReprovision(t, path, "--if-refused", "--wait", "30s")
	if code != exitOK || !strings.Contains(out, "reprovisioned as") {
		t.Fatalf("reprovision --if-refused on a revoked identity: exit %d, %q", code, out)
	}
	next := waitForNewIdentity(t, cfg.StateDirectory, first.CertificateID)
	if s := certificateStatus(t, api, next.CertificateID); s != iottypes.CertificateStatusActive {
		t.Errorf("the new certificate is %s", s)
	}
	st, _ := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if len(st.Orphans) == 0 || !strings.Contains(st.Orphans[len(st.Orphans)-1].Reason, "refused by the service") {
		t.Errorf("orphans %+v: the revoked certificate is not recorded with the reason", st.Orphans)
	}

	// With the service unreachable, the identity is kept and the command
	// says it could not tell.
	srv.Close()
	code, out = runReprovision(t, path, "--if-refused", "--wait", "30s")
	if code != exitFailure || !strings.Contains(out, "could not reach the service") {
		t.Fatalf("reprovision --if-refused with the service down: exit %d, %q", code, out)
	}
	if c := registered(t, cfg.StateDirectory); c.CertificateID != next.CertificateID {
		t.Fatalf("an unreachable service cost the identity: %s, want %s", c.CertificateID, next.CertificateID)
	}
}

// verify_every finds a revoked certificate by itself and replaces it; while
// the service is unreachable it keeps the identity.
func TestVerifyEvery(t *testing.T) {
	t.Run("revoked", func(t *testing.T) {
		path, srv := startEmulator(t, fleetsim.Options{APIListen: "127.0.0.1:0"}, fastRetry+"verify_every: 1s\n")
		cfg, _ := runDaemonProving(t, path)
		first := registered(t, cfg.StateDirectory)
		revoke(t, iotAPI(srv), first.CertificateID)
		next := waitForNewIdentity(t, cfg.StateDirectory, first.CertificateID)
		if s := certificateStatus(t, iotAPI(srv), next.CertificateID); s != iottypes.CertificateStatusActive {
			t.Errorf("the new certificate is %s", s)
		}
	})
	t.Run("outage", func(t *testing.T) {
		path, srv := startEmulator(t, fleetsim.Options{}, fastRetry+"verify_every: 1s\n")
		cfg, _ := runDaemonProving(t, path)
		first := registered(t, cfg.StateDirectory)
		srv.Close()
		files := store.ReadOnlyDir(cfg.StateDirectory)
		var st store.State
		var unreachable []time.Time
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		_ = awaitInDir(wctx, cfg.StateDirectory, func() bool {
			var err error
			if st, err = store.LoadState(files); err != nil {
				t.Fatal(err)
			}
			if st.CertificateID != first.CertificateID || st.Phase != store.Registered {
				t.Fatalf("during the outage the identity changed: %+v", st)
			}
			if st.VerifyResult == store.VerifyUnreachable && (len(unreachable) == 0 || st.VerifiedAt.After(unreachable[len(unreachable)-1])) {
				unreachable = append(unreachable, st.VerifiedAt)
			}
			return len(unreachable) >= 3
		})
		if len(unreachable) < 3 {
			t.Fatalf("%d verifications recorded unreachable in 30s, want 3; state %+v", len(unreachable), st)
		}
		if c := registered(t, cfg.StateDirectory); c.CertificateID != first.CertificateID {
			t.Fatalf("credentials.json names %s after the outage, want %s", c.CertificateID, first.CertificateID)
		}
		if len(st.Orphans) > 0 {
			t.Errorf("orphans %+v after an outage", st.Orphans)
		}
	})
}

// deviceSpy counts the sessions dialled with the device certificate, and
// those whose key is in the TPM.
type deviceSpy struct {
	statemachine.Dialer
	device, inTPM atomic.Int32
}

func (s *deviceSpy) DialDevice(ctx context.Context, thingName, template string, cert tls.Certificate) (statemachine.Session, error) {
	sess, err := s.Dialer.DialDevice(ctx, thingName, template, cert)
	if err == nil && template == "RotationTemplate" {
		s.device.Add(1)
		if _, ok := cert.PrivateKey.(*tpmkey.Key); ok {
			s.inTPM.Add(1)
		}
	}
	return sess, err
}

// With rotation.credential: device, the new identity is requested over a
// session dialled with the current device certificate, registering with
// rotation.template; with key_store: tpm that session signs in the TPM.
func TestRotationWithTheDeviceCertificate(t *testing.T) {
	for _, tpm := range []bool{false, true} {
		t.Run(map[bool]string{false: "key_store: file", true: "key_store: tpm"}[tpm], func(t *testing.T) {
			yaml := fastRetry + "rotation:\n  before_expiry: 50%\n  credential: device\n  template: RotationTemplate\n"
			if tpm {
				yaml += tpmYAML(tpmtest.Start(t), "ec-p256", "")
			}
			path, _ := startPreparedEmulator(t, fleetsim.Options{CertificateValidity: 3 * time.Second}, yaml, rotationTemplate(t))
			spy := &deviceSpy{}
			cfg := runDaemonWrapped(t, path, func(real statemachine.Dialer) statemachine.Dialer {
				spy.Dialer = real
				return spy
			})
			first := registered(t, cfg.StateDirectory)
			next := waitForNewIdentity(t, cfg.StateDirectory, first.CertificateID)
			if spy.device.Load() == 0 {
				t.Fatalf("rotated to %s without a session dialled with the device certificate", next.CertificateID)
			}
			if tpm && spy.inTPM.Load() != spy.device.Load() {
				t.Errorf("%d of %d device sessions signed in the TPM", spy.inTPM.Load(), spy.device.Load())
			}
		})
	}
}

// rotationTemplate prepares an emulator folder with RotationTemplate, a
// copy of the provisioning template, for rotation.template.
func rotationTemplate(t *testing.T) func(dir string) {
	return func(dir string) {
		body, err := os.ReadFile(filepath.Join(dir, "templates", "GatewayTemplate.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "templates", "RotationTemplate.json"), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
