package config

import (
	"github.com/provisiond/provisiond/internal/proxy"
	"gopkg.in/yaml.v3"
)

// proxyKeys reads proxy (http(s)://[user:pass@]host:port) and proxy_ca.
// Errors show the URL with its password as ***.
func (p *parser) proxyKeys(top map[string]*yaml.Node, c *Config) error {
	if n := top["proxy"]; n != nil {
		v, err := p.scalar(n, "proxy")
		if err != nil {
			return err
		}
		if v != "" {
			if _, err := proxy.ParseURL(v); err != nil {
				return p.errorf(deref(n).Line, "proxy", "%v", err)
			}
		}
		c.Proxy = v
	}
	if n := top["proxy_ca"]; n != nil {
		v, err := p.scalar(n, "proxy_ca")
		if err != nil {
			return err
		}
		if v != "" {
			c.ProxyCA = p.resolve(v)
		}
	}
	return nil
}

// checkProxyCA reads proxy_ca, when set, as CheckFiles does the other files.
func (c *Config) checkProxyCA() error {
	if c.ProxyCA == "" {
		return nil
	}
	if _, err := proxy.LoadCA(c.ProxyCA); err != nil {
		return &Error{File: c.Path, Line: c.lines["proxy_ca"], Field: "proxy_ca", Message: err.Error()}
	}
	return nil
}
