package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// hookBinary builds attest-hook once for the package's tests.
func hookBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "attest-hook-bin"); buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "attest-hook")
		var out []byte
		out, buildErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if buildErr != nil {
			buildErr = &buildError{buildErr, out}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output holds want, within a bound.
func (s *syncBuffer) waitFor(t testing.TB, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never held %q:\n%s", want, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listeningHook is attest-hook --listen, running.
type listeningHook struct {
	URL    string
	Stderr *syncBuffer
	// Stop stops it (SIGTERM, SIGKILL after a bound); safe to repeat.
	Stop func()
}

// startHook runs attest-hook --listen 127.0.0.1:0 with the OEM roots in
// rootsPEM, and stops it by PID when the test ends.
func startHook(t testing.TB, rootsPEM []byte, extra ...string) *listeningHook {
	t.Helper()
	roots := filepath.Join(t.TempDir(), "oem-roots.pem")
	if err := os.WriteFile(roots, rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(hookBinary(t), append([]string{"--roots", roots, "--listen", "127.0.0.1:0"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &listeningHook{Stderr: &syncBuffer{}}
	cmd.Stderr = h.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // its stderr says
	var once sync.Once
	h.Stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill() //nolint:errcheck // it may have exited
				<-exited
			}
		})
	}
	t.Cleanup(h.Stop)
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		io.Copy(io.Discard, stdout) //nolint:errcheck // drained
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening on ")
		if !ok {
			t.Fatalf("attest-hook printed %q; stderr:\n%s", s, h.Stderr)
		}
		h.URL = "http://" + addr + "/hook"
	case <-time.After(15 * time.Second):
		t.Fatalf("attest-hook did not listen; stderr:\n%s", h.Stderr)
	}
	return h
}

// post sends ev as fleetsim does and returns the answer.
func (h *listeningHook) post(t testing.TB, ev attest.Event) attest.Response {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	rsp, err := http.Post(h.URL, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var r attest.Response
	if err := json.NewDecoder(rsp.Body).Decode(&r); err != nil || rsp.StatusCode != http.StatusOK {
		t.Fatalf("hook answered %d: %v", rsp.StatusCode, err)
	}
	return r
}

// attestedTemplate names the thing from the hook's ThingName override only.
const attestedTemplate = `{
  "Parameters": {"ThingName": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}},
    "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"}]}"}}
  }
}`

// emulator is fleetsim, in process, with attestedTemplate (whose hook is
// hookURL) as GatewayTemplate.
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
	settings, _ := json.Marshal(map[string]any{"enabled": true, "preProvisioningHook": map[string]string{"url": hookURL}})
	for name, data := range map[string][]byte{template + ".json": []byte(attestedTemplate), template + ".settings.json": settings} {
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
