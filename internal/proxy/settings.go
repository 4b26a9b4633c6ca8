package proxy

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// ParseURL checks a proxy URL: http:// or https://, a host, and an optional
// port and user:password. Errors show the URL with its password as ***.
func ParseURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		return nil, fmt.Errorf("must start with http:// or https://, got %s", strings.TrimPrefix(Redact("http://"+s), "http://"))
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's own error quotes the input, password and all.
		return nil, fmt.Errorf("not a URL: %s", Redact(s))
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("unsupported scheme %q: only http:// and https:// proxies (HTTP CONNECT) are supported", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("no host in %s", Redact(s))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port must be a number from 1 to 65535, got %q", p)
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("must be scheme://[user:password@]host[:port] with nothing after it, got %s", Redact(s))
	}
	return u, nil
}

// Redact returns a proxy URL with its password replaced by ***. A string
// that does not parse is shown as *** whole, since it may hold one.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "***"
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	if _, has := u.User.Password(); has {
		c := *u
		c.User = url.UserPassword(u.User.Username(), "***")
		// url escapes the stars; show them as written.
		return c.Scheme + "://" + c.User.Username() + ":***@" + c.Host + c.EscapedPath()
	}
	return u.String()
}

// Settings say how to reach an endpoint: directly or through which proxy.
type Settings struct {
	// Source names where the proxy came from ("proxy" or "HTTPS_PROXY") for messages.
	Source string
	// CAs verifies an https:// proxy; nil means the system's roots.
	CAs *x509.CertPool

	resolve func(*url.URL) (*url.URL, error)
}

// Direct is no proxy at all.
var Direct = &Settings{}

// Getenv reads the environment; tests pass their own.
type Getenv func(string) string

// New builds the settings from the config's proxy and proxy_ca keys (either
// may be empty) and the environment: HTTPS_PROXY/https_proxy when proxy is
// empty, and NO_PROXY/no_proxy always. Errors name the key or variable.
func New(proxyKey, proxyCAFile string, getenv Getenv) (*Settings, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	env := func(upper, lower string) (string, string) {
		if v := getenv(upper); v != "" {
			return v, upper
		}
		return getenv(lower), lower
	}
	noProxy, _ := env("NO_PROXY", "no_proxy")
	s := &Settings{Source: "proxy"}
	raw := proxyKey
	if raw == "" {
		raw, s.Source = env("HTTPS_PROXY", "https_proxy")
	}
	if raw == "" {
		return Direct, nil
	}
	if _, err := ParseURL(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Source, err)
	}
	if proxyCAFile != "" {
		pool, err := LoadCA(proxyCAFile)
		if err != nil {
			return nil, fmt.Errorf("proxy_ca: %w", err)
		}
		s.CAs = pool
	}
	s.resolve = (&httpproxy.Config{HTTPSProxy: raw, NoProxy: noProxy}).ProxyFunc()
	return s, nil
}

// LoadCA reads a PEM file of CA certificates for an https:// or intercepting proxy.
func LoadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: holds no PEM certificate", path)
	}
	return pool, nil
}

// For returns the proxy for host:port, or nil to connect directly (no proxy
// set, NO_PROXY covers it, or it is a loopback address, as httpproxy decides).
func (s *Settings) For(addr string) *url.URL {
	if s == nil || s.resolve == nil {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil
	}
	u, err := s.resolve(&url.URL{Scheme: "https", Host: addr})
	if err != nil {
		return nil // New checked the URL already
	}
	return u
}

// Describe says how addr is reached, password hidden: "directly" or
// "through proxy http://user:***@host:3128 (from HTTPS_PROXY)".
func (s *Settings) Describe(addr string) string {
	u := s.For(addr)
	if u == nil {
		return "directly"
	}
	return "through proxy " + redactURL(u) + " (from " + s.Source + ")"
}
