package config

import (
	"fmt"
	"os"

	"github.com/provisiond/provisiond/internal/proxy"
)

// LoadValid is Load, then everything the daemon needs of the config at
// start: the files it names (CheckFiles), the template parameters and the
// client ID expanded on this device, and the proxy settings with
// HTTPS_PROXY and NO_PROXY. So a config whose placeholders cannot be
// expanded (${env:UNSET}) is a bad config naming the field, before a state
// machine starts with it. `run`, the reload and `check` all take it.
func LoadValid(path string) (*Config, error) {
	cfg, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckFiles(); err != nil {
		return nil, err
	}
	if _, err := cfg.Parameters(SystemFacts); err != nil {
		return nil, err
	}
	if _, err := cfg.ClientIDFor(SystemFacts); err != nil {
		return nil, err
	}
	if _, err := proxy.New(cfg.Proxy, cfg.ProxyCA, os.Getenv); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err) // a bad HTTPS_PROXY is a bad config too
	}
	return cfg, nil
}
