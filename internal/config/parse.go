package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair"
)

// parser walks the YAML tree by hand, rather than decoding into a struct, so
// that every error can name the line and unknown keys are caught.
type parser struct {
	file  string
	dir   string
	lines map[string]int
}

func (p *parser) errorf(line int, field, format string, args ...any) error {
	return &Error{File: p.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)}
}

var (
	topKeys = []string{"endpoint", "root_ca", "claim", "template", "payload_format", "certificate_method", "key_type", "client_id", "state_directory", "log_level", "retry",
		"proxy", "proxy_ca"}
	claimKeys = []string{"certificate", "private_key"}
	tmplKeys  = []string{"name", "parameters"}
	retryKeys = []string{"initial", "max", "permanent", "token_safe_lifetime", "response_timeout"}
)

func (p *parser) config(doc *yaml.Node) (*Config, error) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	top, err := p.mapping(root, "", topKeys)
	if err != nil {
		return nil, err
	}
	c := &Config{
		PayloadFormat:     DefaultPayloadFormat,
		CertificateMethod: DefaultCertificateMethod,
		KeyType:           DefaultKeyType,
		StateDirectory:    DefaultStateDirectory,
		LogLevel:          DefaultLogLevel,
		Retry:             DefaultRetry(),
	}

	endpoint, err := p.required(top, root, "", "endpoint")
	if err != nil {
		return nil, err
	}
	if c.Endpoint, err = parseEndpoint(endpoint); err != nil {
		return nil, p.errorf(p.lines["endpoint"], "endpoint", "%v", err)
	}
	if c.RootCA, err = p.requiredPath(top, root, "", "root_ca"); err != nil {
		return nil, err
	}

	claimNode, err := p.requiredNode(top, root, "claim")
	if err != nil {
		return nil, err
	}
	if c.Claims, err = p.claims(claimNode); err != nil {
		return nil, err
	}

	tmplNode, err := p.requiredNode(top, root, "template")
	if err != nil {
		return nil, err
	}
	tmpl, err := p.mapping(tmplNode, "template.", tmplKeys)
	if err != nil {
		return nil, err
	}
	if c.Template.Name, err = p.required(tmpl, tmplNode, "template.", "name"); err != nil {
		return nil, err
	}
	if fleet.ValidateTemplateName(c.Template.Name) != nil {
		return nil, p.errorf(p.lines["template.name"], "template.name",
			"must be 1 to 36 letters, digits, '_' or '-', got %q", c.Template.Name)
	}
	if c.Template.Parameters, err = p.parameters(tmpl["parameters"]); err != nil {
		return nil, err
	}

	for _, e := range []struct {
		key     string
		dst     *string
		allowed []string
	}{
		{"payload_format", &c.PayloadFormat, []string{"json", "cbor"}},
		{"certificate_method", &c.CertificateMethod, []string{"csr", "create-keys"}},
		{"key_type", &c.KeyType, keypair.KeyTypes()},
		{"log_level", &c.LogLevel, []string{"debug", "info", "warn", "error"}},
	} {
		if err := p.enum(top, e.key, e.dst, e.allowed); err != nil {
			return nil, err
		}
	}

	if n := top["client_id"]; n != nil {
		if c.ClientID, err = p.scalar(n, "client_id"); err != nil {
			return nil, err
		}
		if err := checkClientID(c.ClientID); err != nil {
			return nil, p.errorf(n.Line, "client_id", "%v", err)
		}
	}
	if n := top["state_directory"]; n != nil {
		dir, err := p.scalar(n, "state_directory")
		if err != nil {
			return nil, err
		}
		if dir == "" {
			return nil, p.errorf(n.Line, "state_directory", "must not be empty (default %s)", DefaultStateDirectory)
		}
		c.StateDirectory = p.resolve(dir)
	}

	if err := p.proxyKeys(top, c); err != nil {
		return nil, err
	}
	if n := top["retry"]; n != nil {
		if err := p.retry(n, &c.Retry); err != nil {
			return nil, err
		}
	}

	if err := p.rotationSettings(top, c); err != nil {
		return nil, err
	}
	if err := p.keyStore(top, c); err != nil {
		return nil, err
	}
	if err := p.attestation(top, c); err != nil {
		return nil, err
	}
	return c, nil
}

// mapping returns the values of a mapping node by key, recording each
// key's line and rejecting unknown and repeated keys. A missing or null
// node is an empty mapping.
func (p *parser) mapping(n *yaml.Node, prefix string, known []string) (map[string]*yaml.Node, error) {
	n = deref(n)
	out := map[string]*yaml.Node{}
	if n == nil || n.Kind == 0 || isNull(n) {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n.Line, strings.TrimSuffix(prefix, "."), "must be a mapping of keys to values, got %s", kindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		key := k.Value
		if !slices.Contains(known, key) {
			msg := "unknown key"
			if s := suggest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, p.errorf(k.Line, prefix+key, "%s", msg)
		}
		if _, dup := out[key]; dup {
			return nil, p.errorf(k.Line, prefix+key, "given twice (first on line %d)", p.lines[prefix+key])
		}
		out[key] = v
		p.lines[prefix+key] = k.Line
	}
	return out, nil
}

// scalar returns a single value as written (so "0001" stays "0001"); null
// is the empty string.
func (p *parser) scalar(n *yaml.Node, field string) (string, error) {
	n = deref(n)
	if isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", p.errorf(n.Line, field, "must be a single value, got %s", kindName(n))
	}
	return n.Value, nil
}

// requiredNode returns the value of a required key, or an error pointing at
// the mapping that lacks it.
func (p *parser) requiredNode(m map[string]*yaml.Node, parent *yaml.Node, key string) (*yaml.Node, error) {
	n := m[key]
	if n == nil || isNull(deref(n)) {
		return nil, p.errorf(p.missingLine(m, parent, key), key, "required")
	}
	return n, nil
}

func (p *parser) required(m map[string]*yaml.Node, parent *yaml.Node, prefix, key string) (string, error) {
	field := prefix + key
	n := m[key]
	if n == nil {
		return "", p.errorf(p.missingLine(m, parent, field), field, "required")
	}
	v, err := p.scalar(n, field)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(v) == "" {
		return "", p.errorf(deref(n).Line, field, "required, got an empty value")
	}
	return v, nil
}

func (p *parser) requiredPath(m map[string]*yaml.Node, parent *yaml.Node, prefix, key string) (string, error) {
	v, err := p.required(m, parent, prefix, key)
	if err != nil {
		return "", err
	}
	return p.resolve(v), nil
}

// missingLine points at the key present with a null value, else at the
// mapping's own key, which is the line above its first entry.
func (p *parser) missingLine(m map[string]*yaml.Node, parent *yaml.Node, field string) int {
	if line := p.lines[field]; line > 0 {
		return line
	}
	if i := strings.LastIndex(field, "."); i > 0 {
		if line := p.lines[field[:i]]; line > 0 {
			return line
		}
	}
	if parent = deref(parent); parent != nil && parent.Kind == yaml.MappingNode {
		return parent.Line
	}
	return 0
}

func (p *parser) enum(m map[string]*yaml.Node, key string, dst *string, allowed []string) error {
	n := m[key]
	if n == nil {
		return nil
	}
	v, err := p.scalar(n, key)
	if err != nil {
		return err
	}
	if v == "" {
		return nil // null or "" keeps the default
	}
	if !slices.Contains(allowed, v) {
		return p.errorf(deref(n).Line, key, "must be %s, got %q", orList(allowed), v)
	}
	*dst = v
	return nil
}

func (p *parser) retry(n *yaml.Node, r *Retry) error {
	m, err := p.mapping(n, "retry.", retryKeys)
	if err != nil {
		return err
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{
		{"initial", &r.Initial},
		{"max", &r.Max},
		{"permanent", &r.Permanent},
		{"token_safe_lifetime", &r.TokenSafeLifetime},
		{"response_timeout", &r.ResponseTimeout},
	} {
		v := m[d.key]
		if v == nil {
			continue
		}
		field := "retry." + d.key
		s, err := p.scalar(v, field)
		if err != nil {
			return err
		}
		dur, err := time.ParseDuration(s)
		if err != nil || dur <= 0 {
			return p.errorf(deref(v).Line, field, "must be a positive duration such as \"30s\" or \"5m\", got %q", s)
		}
		*d.dst = dur
	}
	if r.Initial > r.Max {
		return p.errorf(p.lines["retry.initial"], "retry.initial", "%v is longer than retry.max (%v)", r.Initial, r.Max)
	}
	if r.TokenSafeLifetime > time.Hour {
		return p.errorf(p.lines["retry.token_safe_lifetime"], "retry.token_safe_lifetime",
			"%v is longer than the 1h an ownership token lives", r.TokenSafeLifetime)
	}
	return nil
}

// parameters reads template.parameters: a mapping of names to single values.
func (p *parser) parameters(n *yaml.Node) (map[string]string, error) {
	const prefix = "template.parameters"
	n = deref(n)
	out := map[string]string{}
	if n == nil || isNull(n) {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n.Line, prefix, "must be a mapping of parameter names to values, got %s", kindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, p.errorf(k.Line, prefix, "parameter names must be non-empty strings")
		}
		field := prefix + "." + k.Value
		if _, dup := out[k.Value]; dup {
			return nil, p.errorf(k.Line, field, "given twice (first on line %d)", p.lines[field])
		}
		v, err := p.scalar(n.Content[i+1], field)
		if err != nil {
			return nil, err
		}
		if err := checkPlaceholders(v); err != nil {
			return nil, p.errorf(deref(n.Content[i+1]).Line, field, "%v", err)
		}
		out[k.Value] = v
		p.lines[field] = k.Line
	}
	return out, nil
}

func (p *parser) resolve(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(p.dir, path)
}
