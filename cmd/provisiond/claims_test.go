package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/claimdrop"
	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/testtool"
)

// writeExpiredClaim writes dir/name.crt and dir/name.key: a claim pair that
// expired an hour ago (no service is needed to pass it over).
func writeExpiredClaim(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(file string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(name+".key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// countingDialer counts the claim sessions the machine asks for.
type countingDialer struct {
	statemachine.Dialer
	dials atomic.Int32
}

func (d *countingDialer) Dial(ctx context.Context, c claims.Claim) (statemachine.Session, error) {
	d.dials.Add(1)
	return d.Dialer.Dial(ctx, c)
}

// runInBackground runs the daemon until the test ends.
func runInBackground(t *testing.T, path string, d *testDaemon) *config.Config {
	t.Helper()
	d.path = path
	if d.logger == nil {
		d.logger = zaptest.NewLogger(t)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	})
	return cfg
}

func waitState(t *testing.T, dir string, until func(store.State) bool) store.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.WaitForState(ctx, dir, until)
	if err != nil {
		t.Fatalf("no such state saved; the last: %+v", st)
	}
	return st
}

func statusJSON(t *testing.T, path string) statusReport {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := runCLI([]string{"status", "--json", "--config", path}, &out, &errOut); code != exitOK {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	var rep statusReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// Two claims, the first expired: the device provisions with the second, and
// status names it and why the first was passed over, by certificate id only.
func TestTwoClaimsTheFirstExpired(t *testing.T) {
	path, _ := startPreparedEmulator(t, fleetsim.Options{}, `claim:
  - {certificate: old.crt, private_key: old.key}
  - {certificate: claim.pem.crt, private_key: claim.pem.key}
`, func(dir string) { writeExpiredClaim(t, dir, "old") })
	cfg := provision(t, path)
	rep := statusJSON(t, path)
	if rep.Claim == nil || !strings.HasSuffix(rep.Claim.Name, "claim.pem.crt") || len(rep.Claim.CertificateID) != 64 ||
		!strings.Contains(rep.Claim.PassedOver, "old.crt expired at") {
		t.Fatalf("status --json claim = %+v, want claim.pem.crt with old.crt passed over as expired", rep.Claim)
	}
	var out, errOut bytes.Buffer
	if code := runCLI([]string{"check", "--config", path}, &out, &errOut); code != exitOK ||
		!strings.Contains(out.String(), "claim: warning: passed over: "+filepath.Join(filepath.Dir(cfg.Path), "old.crt")+" expired") {
		t.Fatalf("check: exit %d: %s%s, want a warning naming the expired claim", code, out.String(), errOut.String())
	}
}

// Every claim expired: nothing is sent to the service, status says so, and
// check fails saying so.
func TestAllClaimsExpiredSendsNothing(t *testing.T) {
	path, _ := startPreparedEmulator(t, fleetsim.Options{}, `claim:
  - {certificate: a.crt, private_key: a.key}
  - {certificate: b.crt, private_key: b.key}
`, func(dir string) { writeExpiredClaim(t, dir, "a"); writeExpiredClaim(t, dir, "b") })
	counter := &countingDialer{}
	cfg := runInBackground(t, path, &testDaemon{wrapDialer: func(d statemachine.Dialer) statemachine.Dialer {
		counter.Dialer = d
		return counter
	}})
	st := waitState(t, cfg.StateDirectory, func(s store.State) bool { return s.LastErrorKind == store.KindClaim })
	if n := counter.dials.Load(); n != 0 {
		t.Fatalf("%d claim sessions dialed with every claim expired", n)
	}
	if text := statemachine.StatusText(st, time.Now()); !strings.Contains(text, claims.AllExpiredText) {
		t.Fatalf("status %q, want %q", text, claims.AllExpiredText)
	}
	if d := time.Until(st.NextAttemptAt); d < 50*time.Minute {
		t.Errorf("next look in %v: an expired claim is looked at again only after retry.permanent", d)
	}
	var out, errOut bytes.Buffer
	if code := runCLI([]string{"check", "--config", path}, &out, &errOut); code != exitFailure ||
		!strings.Contains(out.String(), "claim: fail: "+claims.AllExpiredText) {
		t.Fatalf("check: exit %d: %s%s, want a failure saying all claims expired", code, out.String(), errOut.String())
	}
}

// A temporary claim handed over with `claim import`: the daemon awaits it
// without sending anything, ignores a half-written drop, provisions with the
// claim once imported (--wait prints the thing name), and removes it after.
// A drop that carries an endpoint is refused.
func TestClaimImportProvisionsAndIsRemoved(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "claim: {source: import}\n")
	dir := filepath.Dir(path)
	counter := &countingDialer{}
	cfg := runInBackground(t, path, &testDaemon{wrapDialer: func(d statemachine.Dialer) statemachine.Dialer {
		counter.Dialer = d
		return counter
	}})
	st := waitState(t, cfg.StateDirectory, func(s store.State) bool { return s.LastErrorKind == store.KindClaim })
	if !strings.Contains(statemachine.StatusText(st, time.Now()), statemachine.AwaitingClaimText) {
		t.Fatalf("status %q, want it awaiting a claim", statemachine.StatusText(st, time.Now()))
	}
	if st.KeyRef.IsZero() {
		t.Error("the device key is to be made before the claim arrives")
	}

	pair, err := os.ReadFile(filepath.Join(dir, "claim.pem.crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dir, "claim.pem.key"))
	if err != nil {
		t.Fatal(err)
	}
	pair = append(pair, key...)
	claim, err := claimdrop.Parse(pair)
	if err != nil {
		t.Fatal(err)
	}
	// Half a drop, written in place: it is never used.
	if err := os.MkdirAll(claimdrop.Folder(cfg.StateDirectory), 0o700); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(claimdrop.Folder(cfg.StateDirectory), "half.json")
	if err := os.WriteFile(half, claim.Encode()[:200], 0o600); err != nil {
		t.Fatal(err)
	}
	// An endpoint in the drop is refused, naming it.
	var out, errOut bytes.Buffer
	bad := strings.Replace(string(claim.Encode()), "{", `{"endpoint": "evil.example:8883",`, 1)
	badFile := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := runCLI([]string{"claim", "import", badFile, "--config", path}, &out, &errOut); code != exitFailure ||
		!strings.Contains(errOut.String(), "endpoint: a temporary claim never carries the endpoint") {
		t.Fatalf("claim import with an endpoint: exit %d: %s", code, errOut.String())
	}
	if n := counter.dials.Load(); n != 0 {
		t.Fatalf("%d claim sessions dialed before a usable claim was imported", n)
	}

	file := filepath.Join(t.TempDir(), "claim.pem")
	if err := os.WriteFile(file, pair, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := runCLI([]string{"claim", "import", file, "--wait", "30s", "--config", path}, &out, &errOut); code != exitOK {
		t.Fatalf("claim import --wait: exit %d: %s", code, errOut.String())
	}
	creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	if err != nil || strings.TrimSpace(out.String()) != creds.ThingName {
		t.Fatalf("--wait printed %q, credentials.json names %q (%v)", out.String(), creds.ThingName, err)
	}
	st = waitState(t, cfg.StateDirectory, func(s store.State) bool { return s.Claim != nil && s.Claim.Drop == "" })
	if _, err := os.Stat(filepath.Join(claimdrop.Folder(cfg.StateDirectory), claim.FileName())); !os.IsNotExist(err) {
		t.Fatalf("the used temporary claim is still in the drop folder (%v)", err)
	}
	if st.Claim.CertificateID != claim.CertificateID {
		t.Fatalf("state names claim %+v, want %s", st.Claim, claim.CertificateID)
	}
}

// startClaimsEmulator is startEmulator with init's claim options and the
// control-plane API; it returns the config path, the fleet folder and the
// API's base URL.
func startClaimsEmulator(t *testing.T, init fleetsim.InitOptions, opts fleetsim.Options, yamlExtra string) (path, dir, api string) {
	t.Helper()
	dir = t.TempDir()
	init.Listen = "127.0.0.1:8883"
	if err := fleetsim.Init(dir, init); err != nil {
		t.Fatalf("fleetsim init: %v", err)
	}
	opts.Dir, opts.Listen, opts.APIListen = dir, "127.0.0.1:0", "127.0.0.1:0"
	opts.Logger = zaptest.NewLogger(t).Named("fleetsim")
	srv, err := fleetsim.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("fleetsim start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	path = filepath.Join(dir, "provisiond.yaml")
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body = regexp.MustCompile(`(?m)^endpoint:.*$`).ReplaceAll(body, []byte("endpoint: "+srv.Addr()))
	if err := os.WriteFile(path, []byte(overrideYAML(string(body), yamlExtra)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dir, "http://" + srv.APIAddr()
}

func certificateIDOf(t *testing.T, file string) string {
	t.Helper()
	return keypair.ID(readCert(t, file))
}

// api calls fleetsim's control-plane API without signing (it was started
// without --api-credentials).
func api(t *testing.T, method, url string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, body)
	}
	return body
}

// Two claims, the first revoked over the API: the daemon is refused with
// it and provisions with the second at once.
func TestTwoClaimsTheFirstRevoked(t *testing.T) {
	path, dir, base := startClaimsEmulator(t, fleetsim.InitOptions{Claims: 2}, fleetsim.Options{}, "")
	first := certificateIDOf(t, filepath.Join(dir, "claim.pem.crt"))
	api(t, http.MethodPut, base+"/certificates/"+first+"?newStatus=REVOKED")
	cfg := provision(t, path)
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if err != nil {
		t.Fatal(err)
	}
	if st.Claim == nil || st.Claim.CertificateID == first || !slices.Contains(st.RefusedClaims, first) ||
		!strings.Contains(st.Claim.PassedOver, "refused by the service") {
		t.Fatalf("claim %+v, refused %v: want the second claim, the first refused", st.Claim, st.RefusedClaims)
	}
}

// The trusted-user path with the unmodified aws CLI: CreateProvisioningClaim's
// JSON, as the CLI prints it, imported with --wait, provisions the device.
func TestTemporaryClaimFromTheAWSCLI(t *testing.T) {
	aws := testtool.Need(t, "aws", "awscli")
	path, _, base := startClaimsEmulator(t, fleetsim.InitOptions{}, fleetsim.Options{}, "claim: {source: import}\n")
	cfg := runInBackground(t, path, &testDaemon{})
	cmd := exec.Command(aws, "iot", "create-provisioning-claim", "--template-name", "GatewayTemplate", "--endpoint-url", base)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=fleetsim", "AWS_SECRET_ACCESS_KEY=fleetsim", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	claimJSON, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws iot create-provisioning-claim: %v", err)
	}
	file := filepath.Join(t.TempDir(), "claim.json")
	if err := os.WriteFile(file, claimJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := runCLI([]string{"claim", "import", file, "--wait", "30s", "--config", path}, &out, &errOut); code != exitOK {
		t.Fatalf("claim import --wait: exit %d: %s", code, errOut.String())
	}
	creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	if err != nil || strings.TrimSpace(out.String()) != creds.ThingName {
		t.Fatalf("--wait printed %q; credentials.json names %q (%v)", out.String(), creds.ThingName, err)
	}
}

// A temporary claim that runs out before the daemon uses it: status says so
// and the drop goes; a fresh claim then provisions.
func TestTemporaryClaimThatExpiresBeforeUse(t *testing.T) {
	path, _, base := startClaimsEmulator(t, fleetsim.InitOptions{}, fleetsim.Options{ProvisioningClaimValidity: 2 * time.Second},
		"claim: {source: import}\n")
	newClaim := func() string {
		file := filepath.Join(t.TempDir(), "claim.json")
		if err := os.WriteFile(file, api(t, http.MethodPost, base+"/provisioning-templates/GatewayTemplate/provisioning-claim"), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	var out, errOut bytes.Buffer
	stale := newClaim()
	if code := runCLI([]string{"claim", "import", stale, "--config", path}, &out, &errOut); code != exitOK {
		t.Fatalf("claim import: exit %d: %s", code, errOut.String())
	}
	drop, err := claimdrop.Read(stale, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The daemon starts only after the claim ran out (a device switched on late).
	time.Sleep(time.Until(drop.NotAfter) + 100*time.Millisecond)
	cfg := runInBackground(t, path, &testDaemon{})
	st := waitState(t, cfg.StateDirectory, func(s store.State) bool { return s.LastErrorKind == store.KindClaim && s.Claim != nil })
	if want := claims.TemporaryExpiredText(drop.NotAfter); !strings.Contains(statemachine.StatusText(st, time.Now()), want) {
		t.Fatalf("status %q, want %q", statemachine.StatusText(st, time.Now()), want)
	}
	if _, err := os.Stat(filepath.Join(claimdrop.Folder(cfg.StateDirectory), drop.FileName())); !os.IsNotExist(err) {
		t.Fatalf("the expired claim is still in the drop folder (%v)", err)
	}
	out.Reset()
	errOut.Reset()
	if code := runCLI([]string{"claim", "import", newClaim(), "--wait", "30s", "--config", path}, &out, &errOut); code != exitOK {
		t.Fatalf("a fresh claim: exit %d: %s", code, errOut.String())
	}
	if strings.TrimSpace(out.String()) == "" {
		t.Fatal("--wait printed no thing name")
	}
}

// A certificate and ownership token got under one claim are kept when that
// claim is refused before RegisterThing: the next claim's session registers
// the same certificate with the same token (fleetsim ties the token to the
// certificate, not to the claim's connection; AWS documents the token as the
// certificate's, valid an hour, and says nothing of the claim), so no
// certificate is orphaned.
func TestTokenKeptUnderTheNextClaim(t *testing.T) {
	// Two drops, not one: the daemon retries within a millisecond of the
	// first timeout, so a second RegisterThing may leave before the test
	// stops it, and an answered one would use the token. A dropped request
	// never reaches the registry, so whichever run sends the second, the
	// token is still unused when the second claim's session asks.
	drop, err := fleetsim.ParseFault("register:drop:2")
	if err != nil {
		t.Fatal(err)
	}
	path, dir, base := startClaimsEmulator(t, fleetsim.InitOptions{Claims: 2}, fleetsim.Options{Faults: []fleetsim.Fault{drop}},
		"retry: {initial: 50ms, max: 100ms, response_timeout: 1s}\n")
	first := certificateIDOf(t, filepath.Join(dir, "claim.pem.crt"))
	// The first session gets a certificate; its RegisterThing goes unanswered.
	d := &testDaemon{logger: zaptest.NewLogger(t), path: path}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, cfg) }()
	pending := waitState(t, cfg.StateDirectory, func(s store.State) bool {
		return s.Phase == store.CertPending && s.LastOperation == "RegisterThing"
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pending.Claim == nil || pending.Claim.CertificateID != first {
		t.Fatalf("the certificate came under claim %+v, want the first", pending.Claim)
	}
	// The first claim is revoked while the device is off; the next start
	// registers the certificate it holds through the second claim.
	api(t, http.MethodPut, base+"/certificates/"+first+"?newStatus=REVOKED")
	provision(t, path)
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if err != nil {
		t.Fatal(err)
	}
	if st.CertificateID != pending.CertificateID || len(st.Orphans) != 0 || st.Claim.CertificateID == first {
		t.Fatalf("registered certificate %s under claim %+v with orphans %v; want %s, kept, under the second claim",
			st.CertificateID, st.Claim, st.Orphans, pending.CertificateID)
	}
}
