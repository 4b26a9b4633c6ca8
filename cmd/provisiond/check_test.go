package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/check"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
)

// checkOnline runs `check --online --json` at the clock now and returns its
// results and exit code.
func checkOnline(t *testing.T, path string, now func() time.Time, extra ...string) ([]check.Result, int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"--online", "--json", "--timeout", "5s", "--config", path}, extra...)
	code := checkAt(args, &out, &errOut, now)
	var results []check.Result
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatalf("check --online --json printed %q (stderr %q): %v", out.String(), errOut.String(), err)
	}
	return results, code, out.String() + errOut.String()
}

// wantFirstFail asserts that the first failing check is name, with a message holding want.
func wantFirstFail(t *testing.T, results []check.Result, code int, name, want string) {
	t.Helper()
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, r := range results {
		if r.Status == check.Fail {
			if r.Name != name || !strings.Contains(r.Message, want) || r.Fix == "" {
				t.Fatalf("first fail is %s: %q (fix %q), want %s saying %q\n%+v", r.Name, r.Message, r.Fix, name, want, results)
			}
			return
		}
	}
	t.Fatalf("nothing failed, want %s to: %+v", name, results)
}

var checkOrder = []string{"config", "clock", "dns", "tcp", "tls", "claim", "mqtt", "identity"}

func TestCheckOnlineHealthySetupIsAllOK(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	assertAllOK := func(t *testing.T, results []check.Result, code int) {
		t.Helper()
		if code != exitOK || len(results) != len(checkOrder) {
			t.Fatalf("exit %d, %d results: %+v", code, len(results), results)
		}
		for i, r := range results {
			if r.Name != checkOrder[i] || r.Status != check.OK {
				t.Errorf("check %d: %+v, want %s ok", i, r, checkOrder[i])
			}
		}
	}
	results, code, _ := checkOnline(t, path, time.Now)
	assertAllOK(t, results, code)
	if !strings.Contains(results[7].Message, "not provisioned") {
		t.Errorf("identity before provisioning: %q", results[7].Message)
	}
	if !strings.Contains(results[6].Message, "nothing published") {
		t.Errorf("mqtt: %q", results[6].Message)
	}

	provision(t, path)
	results, code, _ = checkOnline(t, path, time.Now)
	assertAllOK(t, results, code)
	if !strings.Contains(results[7].Message, "proving CONNECT was accepted") {
		t.Errorf("identity after provisioning: %q", results[7].Message)
	}
	if _, st := statusOf(t, path); st["lastStep"] != "" || st["state"] != "registered" {
		t.Errorf("status of the healthy setup: %v, want registered with no lastStep", st)
	}
}

// A config that does not load is check's only failure, and exits 78. The
// other failure classes are in samewords_test.go, beside the daemon's status.
func TestCheckOnlineBadConfig(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "proxy: socks5://127.0.0.1:1080\n")
	results, code, _ := checkOnline(t, path, time.Now)
	if code != exitConfig || len(results) != 1 || results[0].Name != "config" || !strings.Contains(results[0].Message, "proxy") {
		t.Fatalf("exit %d: %+v", code, results)
	}
}

func TestCheckWarningsAsErrors(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	claim := readCert(t, filepath.Join(filepath.Dir(path), "claim.pem.crt"))
	// Ten days before the claim expires, and within the validity of the others.
	late := func() time.Time { return claim.NotAfter.Add(-10 * 24 * time.Hour) }
	results, code, _ := checkOnline(t, path, late)
	if results[5].Name != "claim" || results[5].Status != check.Warn {
		t.Fatalf("ten days before the claim expires: %+v, want claim warn", results)
	}
	if code != exitOK {
		t.Fatalf("a warning alone: exit %d, want 0: %+v", code, results)
	}
	if _, code, _ := checkOnline(t, path, late, "--warnings-as-errors"); code != exitFailure {
		t.Fatalf("--warnings-as-errors: exit %d, want 1", code)
	}
}

// rewriteConfig overrides top-level keys of the daemon's config.
func rewriteConfig(t *testing.T, path, yamlExtra string) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte(overrideYAML(string(body), yamlExtra)))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keypair.Certificate(data)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// closedPort is a 127.0.0.1 address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// testCA is a certificate authority the endpoint does not know.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a client certificate and its key, both PEM.
func (ca *testCA) issue(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// A bad proxy setting is a config error naming the field (exit 78), and
// never shows the password.
func TestBadProxySettingsExit78NamingTheField(t *testing.T) {
	for _, tc := range []struct{ name, yaml, field string }{
		{"malformed URL", "proxy: \"http://alice:hunter2-pw@proxy.example:31x8\"\n", "proxy"},
		{"not a URL", "proxy: \"http://alice:hunter2-pw@proxy example:3128\"\n", "proxy"},
		{"unsupported scheme", "proxy: socks5://alice:hunter2-pw@127.0.0.1:1080\n", "proxy"},
		{"unreadable proxy_ca", "proxy: https://proxy.example:3128\nproxy_ca: no-such-proxy-ca.pem\n", "proxy_ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := startEmulator(t, fleetsim.Options{}, tc.yaml)
			for _, args := range [][]string{{"run"}, {"check"}, {"check", "--online"}} {
				var out, errOut bytes.Buffer
				code := runCLI(append(args, "--config", path), &out, &errOut)
				msg := errOut.String()
				if code != exitConfig || !strings.Contains(msg, ": "+tc.field+": ") {
					t.Fatalf("%v: exit %d, stderr %q, want 78 naming %s", args, code, msg, tc.field)
				}
				if strings.Contains(msg+out.String(), "hunter2") {
					t.Fatalf("%v: the password appears: %s", args, msg)
				}
			}
		})
	}
	t.Run("HTTPS_PROXY", func(t *testing.T) {
		path, _ := startEmulator(t, fleetsim.Options{}, "")
		t.Setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
		var out, errOut bytes.Buffer
		if code := runCLI([]string{"check", "--config", path}, &out, &errOut); code != exitConfig ||
			!strings.Contains(errOut.String(), "HTTPS_PROXY") {
			t.Fatalf("exit %d, stderr %q, want 78 naming HTTPS_PROXY", code, errOut.String())
		}
	})
}
