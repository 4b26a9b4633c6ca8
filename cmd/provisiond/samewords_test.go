package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// failureClass is a setup that does not provision, and the words check
// and the daemon's status have for it.
type failureClass struct {
	name string
	// setup returns the daemon's config path and the device's clock.
	setup func(t *testing.T) (path string, now func() time.Time)
	// check is the check that fails first, its message holding checkSays;
	// status's lastStep holds statusSays.
	check, checkSays, statusSays string
}

var failureClasses = []failureClass{
	{name: "wrong root CA", check: connect.StepTLS,
		checkSays: "the server's chain does not lead to root_ca", statusSays: "server certificate not trusted by root_ca",
		setup: func(t *testing.T) (string, func() time.Time) {
			path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
			writeFile(t, filepath.Join(filepath.Dir(path), "other-ca.pem"), newCA(t, "Some Other Root").pem)
			rewriteConfig(t, path, "root_ca: other-ca.pem\n")
			return path, time.Now
		}},
	{name: "claim from another CA", check: connect.StepMQTT,
		checkSays: "refused", statusSays: "refused the claim certificate",
		setup: func(t *testing.T) (string, func() time.Time) {
			path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
			dir := filepath.Dir(path)
			certPEM, keyPEM := newCA(t, "Foreign Claim CA").issue(t, "foreign-claim")
			writeFile(t, filepath.Join(dir, "foreign.pem.crt"), certPEM)
			writeFile(t, filepath.Join(dir, "foreign.pem.key"), keyPEM)
			rewriteConfig(t, path, "claim:\n  certificate: foreign.pem.crt\n  private_key: foreign.pem.key\n")
			return path, time.Now
		}},
	{name: "claim revoked over the API", check: connect.StepMQTT,
		checkSays: "refused CONNECT", statusSays: "refused CONNECT with the claim",
		setup: func(t *testing.T) (string, func() time.Time) {
			path, srv := startEmulator(t, fleetsim.Options{APIListen: "127.0.0.1:0"}, fastRetry)
			revokeClaim(t, srv, filepath.Join(filepath.Dir(path), "claim.pem.crt"))
			return path, time.Now
		}},
	{name: "claim policy without the template", check: connect.StepMQTT,
		checkSays: "the claim policy does not allow template", statusSays: "the claim policy does not allow the response topics",
		setup: func(t *testing.T) (string, func() time.Time) {
			path, _ := startPreparedEmulator(t, fleetsim.Options{}, fastRetry, func(dir string) {
				if err := fleetsim.SetClaimPolicy(dir, certificatesOnlyPolicy); err != nil {
					t.Fatal(err)
				}
			})
			return path, time.Now
		}},
	{name: "nothing listening", check: connect.StepTCP,
		checkSays: "nothing listening", statusSays: "nothing listening at",
		setup: func(t *testing.T) (string, func() time.Time) {
			path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
			rewriteConfig(t, path, "endpoint: "+closedPort(t)+"\n")
			return path, time.Now
		}},
	{name: "clock before the claim's NotBefore", check: connect.StepClock,
		checkSays: "the clock is wrong", statusSays: "not valid at the local clock",
		setup: func(t *testing.T) (string, func() time.Time) {
			path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
			claim := readCert(t, filepath.Join(filepath.Dir(path), "claim.pem.crt"))
			return path, func() time.Time { return claim.NotBefore.Add(-24 * time.Hour) }
		}},
	{name: "proxy refusing the credentials", check: connect.StepTCP,
		checkSays: "proxy refused the credentials", statusSays: "proxy refused the credentials",
		setup: func(t *testing.T) (string, func() time.Time) {
			path, p := proxiedEmulator(t, fastRetry)
			rewriteConfig(t, path, "proxy: "+p.url("wr0ng-pa55word")+"\n")
			return path, time.Now
		}},
}

// certificatesOnlyPolicy lets the claim get a certificate but not use the template.
const certificatesOnlyPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},` +
	`{"Effect":"Allow","Action":["iot:Publish","iot:Receive","iot:Subscribe"],` +
	`"Resource":["arn:aws:iot:*:*:topicfilter/$aws/certificates/*","arn:aws:iot:*:*:topic/$aws/certificates/*"]}]}`

// For each failure class, check --online names the failing check, and the
// daemon's own attempt leaves status naming the same step in check's words.
func TestCheckAndStatusNameTheSameStep(t *testing.T) {
	for _, fc := range failureClasses {
		t.Run(fc.name, func(t *testing.T) {
			path, now := fc.setup(t)
			results, code, _ := checkOnline(t, path, now)
			wantFirstFail(t, results, code, fc.check, fc.checkSays)

			runDaemonUntilFailed(t, &testDaemon{path: path, logger: zaptest.NewLogger(t), now: now})
			text, st := statusOf(t, path)
			step, _ := st["lastStep"].(string)
			title := connect.Finding{Check: fc.check}.String() // "TLS: "
			if !strings.HasPrefix(step, title) || !strings.Contains(step, fc.statusSays) {
				t.Fatalf("status --json lastStep %q, want %q… saying %q (lastError %q)", step, title, fc.statusSays, st["lastError"])
			}
			if !strings.Contains(text, step) {
				t.Errorf("status does not name the step: %q, want %q in it", text, step)
			}
			if st["lastError"] == "" || st["lastErrorKind"] == "" || st["lastOperation"] == "" {
				t.Errorf("status --json lost the failure record beside lastStep: %v", st)
			}
		})
	}
}

// runDaemonUntilFailed runs d until its state records a failed step, bounded.
func runDaemonUntilFailed(t *testing.T, d *testDaemon) {
	t.Helper()
	cfg, err := config.Load(d.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, cfg) }()
	failed := func() bool {
		st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
		return err == nil && st.LastStep != ""
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	err = awaitInDir(wctx, cfg.StateDirectory, failed)
	wcancel()
	cancel()
	if derr := <-done; derr != nil {
		t.Fatalf("daemon: %v", derr)
	}
	if err != nil {
		t.Fatalf("no failed step saved: %v", err)
	}
}

// revokeClaim revokes the claim certificate through the emulator's AWS IoT
// API with the AWS SDK, as an operator does in the account.
func revokeClaim(t *testing.T, srv *fleetsim.Server, claimFile string) {
	t.Helper()
	sum := sha256.Sum256(readCert(t, claimFile).Raw)
	api := iot.New(iot.Options{BaseEndpoint: aws.String("http://" + srv.APIAddr()), Region: "us-east-1",
		Credentials: aws.AnonymousCredentials{}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := api.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(hex.EncodeToString(sum[:])),
		NewStatus: types.CertificateStatusRevoked}); err != nil {
		t.Fatalf("UpdateCertificate REVOKED on the claim: %v", err)
	}
}
