package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const proxyBase = "endpoint: iot.example\nroot_ca: ca.pem\nclaim: {certificate: c.crt, private_key: c.key}\ntemplate: {name: T}\n"

func TestParseProxyKeys(t *testing.T) {
	c, err := Parse("/etc/provisiond/config.yaml", []byte(proxyBase+"proxy: http://gw:pw@proxy.corp:3128\nproxy_ca: proxy-ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy != "http://gw:pw@proxy.corp:3128" || c.ProxyCA != "/etc/provisiond/proxy-ca.pem" {
		t.Fatalf("proxy %q, proxy_ca %q", c.Proxy, c.ProxyCA)
	}
	c, err = Parse("/etc/provisiond/config.yaml", []byte(proxyBase))
	if err != nil || c.Proxy != "" || c.ProxyCA != "" {
		t.Fatalf("defaults: %q %q %v", c.Proxy, c.ProxyCA, err)
	}
}

func TestProxyErrorsNameTheFieldAndHideThePassword(t *testing.T) {
	for value, want := range map[string]string{
		"socks5://gw:hunter2@proxy:1080":     "unsupported scheme",
		"proxy.corp:3128":                    "http:// or https://",
		"http://gw:hunter2@proxy.corp:31x8":  "not a URL",
		"http://gw:hunter2@proxy.corp:3128/": "",
	} {
		_, err := Parse("/etc/provisiond/config.yaml", []byte(proxyBase+"proxy: \""+value+"\"\n"))
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", value, err)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != "proxy" || ce.Line != 5 || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error on line 5 naming proxy and saying %q", value, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the password appears in %v", value, err)
		}
	}
}

func TestCheckFilesReadsProxyCA(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	c, err := Parse(path, []byte(proxyBase+"proxy_ca: missing.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckFiles()
	var found bool
	for _, e := range unwrapAll(err) {
		var ce *Error
		if errors.As(e, &ce) && ce.Field == "proxy_ca" && strings.Contains(ce.Message, "missing.pem") {
			found = true
		}
	}
	if !found {
		t.Fatalf("CheckFiles: %v, want an error naming proxy_ca", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "missing.pem"), []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.checkProxyCA(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a proxy_ca without PEM: %v", err)
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
