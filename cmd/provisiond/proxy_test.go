package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/logging"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/testtool"
)

// tinyproxy is Debian's tinyproxy serving on 127.0.0.1 with Basic auth,
// allowing CONNECT to one port only.
type tinyproxy struct {
	addr    string
	logFile string
}

const (
	proxyUser     = "alice"
	proxyPassword = "pr0xy-s3cret-pw"
)

// startTinyproxy starts tinyproxy in the foreground on a free 127.0.0.1 port,
// allowing CONNECT to connectPorts only, and stops it by PID when the test ends.
func startTinyproxy(t *testing.T, connectPorts ...string) *tinyproxy {
	t.Helper()
	bin := testtool.Need(t, "tinyproxy", "tinyproxy")
	dir := t.TempDir()
	p := &tinyproxy{addr: closedPort(t), logFile: filepath.Join(dir, "tinyproxy.log")}
	_, port, _ := net.SplitHostPort(p.addr)
	conf := filepath.Join(dir, "tinyproxy.conf")
	writeFile(t, conf, []byte(fmt.Sprintf(`Port %s
Listen 127.0.0.1
Timeout 30
LogFile "%s"
PidFile "%s"
LogLevel Connect
MaxClients 20
BasicAuth %s %s
ConnectPort %s
Allow 127.0.0.1
`, port, p.logFile, filepath.Join(dir, "tinyproxy.pid"), proxyUser, proxyPassword,
		strings.Join(connectPorts, "\nConnectPort "))))
	cmd := exec.Command(bin, "-d", "-c", conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("tinyproxy did not listen on %s: %v\n%s", p.addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// url is the proxy's URL with the given password.
func (p *tinyproxy) url(password string) string {
	return (&url.URL{Scheme: "http", User: url.UserPassword(proxyUser, password), Host: p.addr}).String()
}

// tunnels counts the CONNECT requests the proxy logged, one line each:
// "Request (file descriptor 5): CONNECT host:port HTTP/1.1".
func (p *tinyproxy) tunnels(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(p.logFile)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(data), "): CONNECT ")
}

// proxiedEmulator starts the emulator and a proxy allowed to reach it, and
// points the config at "LOCALHOST": httpproxy, like curl, never proxies
// "localhost" or a loopback address, but compares the name case-sensitively,
// while the resolver and certificate checks do not.
func proxiedEmulator(t *testing.T, yamlExtra string) (string, *tinyproxy) {
	t.Helper()
	path, p, _ := proxiedEmulatorWith(t, fleetsim.Options{}, yamlExtra)
	return path, p
}

// proxiedEmulatorWith is proxiedEmulator with the emulator's options; the
// proxy also allows CONNECT to the emulator's ALPN port, if it has one.
func proxiedEmulatorWith(t *testing.T, opts fleetsim.Options, yamlExtra string) (string, *tinyproxy, *fleetsim.Server) {
	t.Helper()
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("https_proxy", "")
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	path, srv := startEmulator(t, opts, yamlExtra)
	_, port, _ := net.SplitHostPort(srv.Addr())
	ports := []string{port}
	if opts.ALPNListen != "" {
		_, alpnPort, _ := net.SplitHostPort(srv.ALPNAddr())
		ports = append(ports, alpnPort)
	}
	p := startTinyproxy(t, ports...)
	rewriteConfig(t, path, "endpoint: LOCALHOST:"+port+"\n")
	return path, p, srv
}

func TestProvisionsThroughARealProxy(t *testing.T) {
	for _, method := range []string{"csr", "create-keys"} {
		t.Run(method, func(t *testing.T) {
			path, p := proxiedEmulator(t, "certificate_method: "+method+"\n")
			rewriteConfig(t, path, "proxy: "+p.url(proxyPassword)+"\n")
			provision(t, path)
			if n := p.tunnels(t); n < 2 {
				t.Fatalf("the proxy logged %d CONNECTs, want the claim session's and the proving connect's", n)
			}
		})
	}
	t.Run("HTTPS_PROXY with NO_PROXY covering the endpoint connects directly", func(t *testing.T) {
		path, p := proxiedEmulator(t, "")
		t.Setenv("HTTPS_PROXY", p.url(proxyPassword))
		results, code, _ := checkOnline(t, path, time.Now)
		if code != exitOK || p.tunnels(t) != 1 || !strings.Contains(results[3].Message, "through proxy") {
			t.Fatalf("through HTTPS_PROXY: exit %d, %d CONNECTs logged: %+v", code, p.tunnels(t), results)
		}
		t.Setenv("NO_PROXY", "example.com,localhost")
		provision(t, path)
		if n := p.tunnels(t); n != 1 {
			t.Fatalf("the proxy logged %d CONNECTs, want the check's 1 alone: NO_PROXY was not honoured", n)
		}
	})
}

// MQTT with ALPN x-amzn-mqtt-ca, as on port 443, works through the proxy;
// the emulator's ALPN listener refuses a connection without it.
func TestALPNThroughARealProxy(t *testing.T) {
	path, p, srv := proxiedEmulatorWith(t, fleetsim.Options{ALPNListen: "127.0.0.1:0"}, "")
	rewriteConfig(t, path, "proxy: "+p.url(proxyPassword)+"\n")
	cfg, err := config.LoadValid(path)
	if err != nil {
		t.Fatal(err)
	}
	d := connect.New(cfg, connect.Options{ClientID: "gateway-alpn"})
	claim, closeKey, err := d.ClaimFiles(cfg.Claims[0].Certificate, cfg.Claims[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	defer closeKey()
	opts, err := d.ClaimOptions(claim)
	if err != nil {
		t.Fatal(err)
	}
	_, alpnPort, _ := net.SplitHostPort(srv.ALPNAddr())
	opts.Endpoint, opts.AlwaysALPN = "LOCALHOST:"+alpnPort, true
	c, err := fleet.Dial(context.Background(), opts)
	if err != nil {
		t.Fatalf("ALPN through the proxy: %v", err)
	}
	c.Close()
	if n := p.tunnels(t); n != 1 {
		t.Fatalf("the proxy logged %d CONNECTs, want 1", n)
	}
}

func TestCheckOnlineNamesAProxyRefusingTheCredentials(t *testing.T) {
	path, p := proxiedEmulator(t, "")
	const wrong = "wr0ng-pa55word"
	rewriteConfig(t, path, "proxy: "+p.url(wrong)+"\n")
	results, code, out := checkOnline(t, path, time.Now)
	wantFirstFail(t, results, code, "tcp", "proxy refused the credentials")
	if strings.Contains(out, wrong) || !strings.Contains(out, proxyUser+":***@") {
		t.Fatalf("the check output shows the password, or not the proxy as user:***: %s", out)
	}
}

// The daemon's status after a proxy refusal says so, without the password.
func TestDaemonThroughAProxyRefusingTheCredentials(t *testing.T) {
	path, p := proxiedEmulator(t, fastRetry)
	const wrong = "wr0ng-pa55word"
	rewriteConfig(t, path, "proxy: "+p.url(wrong)+"\nlog_level: debug\n")
	logged := runDaemonUntilAFailureIsSaved(t, path)
	if p.tunnels(t) == 0 {
		t.Fatal("the daemon did not go through the proxy")
	}
	var out, errOut bytes.Buffer
	runCLI([]string{"status", "--json", "--config", path}, &out, &errOut)
	if !strings.Contains(out.String(), "refused the credentials") {
		t.Errorf("status does not say the proxy refused the credentials: %s", out.String())
	}
	for what, text := range map[string]string{"status": out.String() + errOut.String(), "debug log": logged} {
		if strings.Contains(text, wrong) {
			t.Errorf("the proxy password appears in the %s", what)
		}
	}
}

// runDaemonUntilAFailureIsSaved runs the daemon at its config's log level
// until state.json records a failed attempt (or 10 s pass) and returns its
// log.
func runDaemonUntilAFailureIsSaved(t *testing.T, path string) string {
	t.Helper()
	logger, logged := debugLog(t)
	d := &testDaemon{path: path, logger: logger}
	cfg, err := config.LoadValid(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, cfg) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	werr := awaitInDir(wctx, cfg.StateDirectory, func() bool {
		st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
		return err == nil && st.LastError != ""
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("daemon: %v", err)
	}
	if werr != nil {
		t.Fatalf("no failed attempt saved: %v", werr)
	}
	return logged()
}

// debugLog is the daemon's own logger at debug level, writing to a file as
// to stderr outside the journal, and a function that returns what it wrote.
func debugLog(t *testing.T) (*zap.Logger, func() string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	logger, err := logging.New("debug", logFile)
	if err != nil {
		t.Fatal(err)
	}
	return logger, func() string {
		_ = logger.Sync()
		data, err := os.ReadFile(logFile.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
}

// With log_level debug, through a proxy with a password, no proxy password,
// private key or ownership token reaches the log, check's output (text and
// JSON) or status's.
func TestNoSecretInCheckStatusOrDebugLog(t *testing.T) {
	path, p := proxiedEmulator(t, "certificate_method: create-keys\nlog_level: debug\n")
	rewriteConfig(t, path, "proxy: "+p.url(proxyPassword)+"\n")
	logger, logged := debugLog(t)
	spy := &tokenSpy{}
	d := &testDaemon{logger: logger, wrapDialer: func(inner statemachine.Dialer) statemachine.Dialer {
		spy.Dialer = inner
		return spy
	}}
	cfg := provisionWith(t, path, d)
	log := logged()
	if !strings.Contains(log, "alice:***@") {
		t.Fatalf("the debug log does not show the proxy route; is it captured?\n%s", log)
	}
	outputs := map[string]string{"debug log": log}
	for _, args := range [][]string{
		{"check", "--online"}, {"check", "--online", "--json"}, {"status"}, {"status", "--json"},
	} {
		var out, errOut bytes.Buffer
		code := runCLI(append(args, "--config", path), &out, &errOut)
		if args[0] == "check" && code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, out.String())
		}
		outputs[strings.Join(args, " ")] = out.String() + errOut.String()
	}

	creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"proxy password": proxyPassword}
	for i, tok := range spy.tokens {
		secrets[fmt.Sprintf("ownership token %d", i)] = tok
	}
	for what, file := range map[string]string{"device key": creds.PrivateKeyFile, "claim key": cfg.Claims[0].PrivateKey} {
		key, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(key), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				secrets[fmt.Sprintf("%s line %d", what, i)] = line
			}
		}
	}
	if len(spy.tokens) == 0 {
		t.Fatal("no ownership token seen")
	}
	for where, text := range outputs {
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("a PEM private key header appears in the %s", where)
		}
		for what, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", what, where)
			}
		}
	}
}
