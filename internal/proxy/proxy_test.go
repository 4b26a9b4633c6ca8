package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
)

func TestParseURL(t *testing.T) {
	for _, s := range []string{"http://proxy.example:3128", "https://u:p@10.0.0.1:8443", "http://[::1]:3128/", "http://proxy"} {
		if _, err := ParseURL(s); err != nil {
			t.Errorf("ParseURL(%q): %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"socks5://u:pw-secret@h:1080":     "unsupported scheme",
		"proxy.example:3128":              "http:// or https://",
		"http://u:pw-secret@:3128":        "no host",
		"http://u:pw-secret@h:99999":      "port",
		"http://u:pw-secret@h:3128/path":  "nothing after",
		"http://u:pw-secret@h x:3128":     "not a URL",
		"http://u:pw-secret@h:3128?x=1":   "nothing after",
		"http://u:pw-secret@h:3128#frag":  "nothing after",
		"ftp://u:pw-secret@h:21":          "unsupported scheme",
		"http://u:pw-secret@h:3128 extra": "not a URL",
	} {
		_, err := ParseURL(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want an error saying %q", s, err, want)
			continue
		}
		if strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("ParseURL(%q): the error shows the password: %v", s, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"http://alice:s3cret@proxy:3128": "http://alice:***@proxy:3128",
		"http://alice@proxy:3128":        "http://alice@proxy:3128",
		"https://proxy:3128":             "https://proxy:3128",
		"http://a:b c@%zz":               "***",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestSettingsFollowConfigThenEnvironment(t *testing.T) {
	s, err := New("", "", env(nil))
	if err != nil || s.For("iot.example:8883") != nil {
		t.Fatalf("no proxy anywhere: %v %v", s.For("iot.example:8883"), err)
	}
	s, _ = New("", "", env(map[string]string{"https_proxy": "http://env-proxy:3128", "NO_PROXY": ".internal,10.0.0.0/8"}))
	for addr, want := range map[string]string{
		"iot.example:8883":   "env-proxy:3128",
		"iot.internal:8883":  "",
		"10.1.2.3:443":       "",
		"localhost:8883":     "", // httpproxy never proxies loopback
		"127.0.0.1:8883":     "",
		"abc-ats.iot.eu:443": "env-proxy:3128",
	} {
		got := ""
		if u := s.For(addr); u != nil {
			got = u.Host
		}
		if got != want {
			t.Errorf("For(%s) = %q, want %q", addr, got, want)
		}
	}
	if !strings.Contains(s.Describe("iot.example:8883"), "(from https_proxy)") {
		t.Errorf("Describe: %q", s.Describe("iot.example:8883"))
	}
	s, _ = New("http://key-proxy:3128", "", env(map[string]string{"HTTPS_PROXY": "http://env-proxy:3128", "NO_PROXY": "iot.internal"}))
	if u := s.For("iot.example:8883"); u == nil || u.Host != "key-proxy:3128" {
		t.Errorf("the proxy key does not win over HTTPS_PROXY: %v", u)
	}
	if s.For("iot.internal:8883") != nil {
		t.Error("NO_PROXY does not apply with the proxy key")
	}
	if _, err := New("", "", env(map[string]string{"HTTPS_PROXY": "socks5://h:1080"})); err == nil || !strings.Contains(err.Error(), "HTTPS_PROXY") {
		t.Errorf("a socks5 HTTPS_PROXY: %v, want an error naming HTTPS_PROXY", err)
	}
	if _, err := New("https://p:3128", filepath.Join(t.TempDir(), "missing.pem"), env(nil)); err == nil || !strings.Contains(err.Error(), "proxy_ca") {
		t.Errorf("a missing proxy_ca: %v", err)
	}
}

// connectProxy is a minimal CONNECT proxy for unit tests: it answers
// status when not 200, else checks Basic auth and tunnels.
type connectProxy struct {
	status   int
	user, pw string
	auth     chan string
}

func (p *connectProxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			p.auth <- req.Header.Get("Proxy-Authorization")
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pw))
			status := p.status
			if status == http.StatusOK && req.Header.Get("Proxy-Authorization") != want {
				status = http.StatusProxyAuthRequired
			}
			if req.Method != http.MethodConnect || status != http.StatusOK {
				io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(status)+" "+http.StatusText(status)+"\r\nContent-Length: 0\r\n\r\n")
				return
			}
			up, err := net.Dial("tcp", req.Host)
			if err != nil {
				io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
				return
			}
			defer up.Close()
			io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
			go io.Copy(up, br)
			io.Copy(c, up)
		}()
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// startProxy serves p on 127.0.0.1, plain or TLS, and returns its URL host.
func startProxy(t *testing.T, p *connectProxy, tlsCfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if tlsCfg != nil {
		l = tls.NewListener(l, tlsCfg)
	}
	go p.serve(l)
	return l.Addr().String()
}

// echoServer answers each line with itself, on 127.0.0.1.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

// through returns settings that send every address, loopback too, to proxyURL.
func through(t *testing.T, proxyURL string, cas *Settings) *Settings {
	t.Helper()
	u, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	s := &Settings{Source: "proxy", resolve: func(*url.URL) (*url.URL, error) { return u, nil }}
	if cas != nil {
		s.CAs = cas.CAs
	}
	return s
}

func TestDialTunnelsWithBasicAuth(t *testing.T) {
	target := echoServer(t)
	p := &connectProxy{status: http.StatusOK, user: "alice", pw: "s3cret", auth: make(chan string, 4)}
	addr := startProxy(t, p, nil)
	s := through(t, "http://alice:s3cret@"+addr, nil)
	conn, err := s.DialContext(context.Background(), "tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("through the tunnel: %q %v", line, err)
	}
}

func TestDialThroughAnHTTPSProxyTrustsProxyCA(t *testing.T) {
	target := echoServer(t)
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // only for its certificate for 127.0.0.1
	srv.Close()
	cert := srv.TLS.Certificates[0]
	caFile := filepath.Join(t.TempDir(), "proxy-ca.pem")
	pemBytes := pemCert(srv.Certificate().Raw)
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{status: http.StatusOK, user: "u", pw: "p", auth: make(chan string, 4)}
	addr := startProxy(t, p, &tls.Config{Certificates: []tls.Certificate{cert}})
	withCA, err := New("https://u:p@"+addr, caFile, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := through(t, "https://u:p@"+addr, withCA).DialContext(context.Background(), "tcp", target)
	if err != nil {
		t.Fatalf("through the https proxy with proxy_ca: %v", err)
	}
	conn.Close()
	_, err = through(t, "https://u:p@"+addr, nil).DialContext(context.Background(), "tcp", target)
	var perr *Error
	if !errors.As(err, &perr) || perr.Permanent() {
		t.Fatalf("without proxy_ca: %v, want a *proxy.Error", err)
	}
}

func TestProxyErrorsAreClassified(t *testing.T) {
	target := echoServer(t)
	for _, tc := range []struct {
		status int
		pw     string
		kind   fleet.Kind
	}{
		{http.StatusOK, "wrong-pw", fleet.KindPermanent}, // 407
		{http.StatusUnauthorized, "s3cret", fleet.KindPermanent},
		{http.StatusForbidden, "s3cret", fleet.KindPermanent},
		{http.StatusBadGateway, "s3cret", fleet.KindTransient},
		{http.StatusServiceUnavailable, "s3cret", fleet.KindTransient},
		{http.StatusGatewayTimeout, "s3cret", fleet.KindTransient},
	} {
		p := &connectProxy{status: tc.status, user: "alice", pw: "s3cret", auth: make(chan string, 4)}
		addr := startProxy(t, p, nil)
		_, err := through(t, "http://alice:"+tc.pw+"@"+addr, nil).DialContext(context.Background(), "tcp", target)
		var perr *Error
		if !errors.As(err, &perr) {
			t.Fatalf("status %d: %v, want a *proxy.Error", tc.status, err)
		}
		if got := fleet.Classify(fmt.Errorf("connect: %w", err)); got != tc.kind {
			t.Errorf("status %d (%v): classified %v, want %v", tc.status, err, got, tc.kind)
		}
		if strings.Contains(err.Error(), tc.pw) || !strings.Contains(err.Error(), "alice:***@") {
			t.Errorf("status %d: %q shows the password, or not the user", tc.status, err)
		}
	}
	// Nothing listening at the proxy: transient.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	_, err := through(t, "http://alice:s3cret@"+dead, nil).DialContext(context.Background(), "tcp", target)
	if got := fleet.Classify(err); got != fleet.KindTransient || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("proxy not listening: %v classified %v, want transient", err, got)
	}
}

// A proxy that never answers CONNECT does not hold the dial past its context.
func TestDialEndsWithItsContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = through(t, "http://"+l.Addr().String(), nil).DialContext(ctx, "tcp", "iot.example:8883")
	if !errors.Is(err, context.DeadlineExceeded) || fleet.Classify(err) != fleet.KindTransient {
		t.Fatalf("a silent proxy: %v, want the context's deadline, transient", err)
	}
}
