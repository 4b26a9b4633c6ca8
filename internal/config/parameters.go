package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Parameters returns template.parameters with ${machine_id}, ${hostname},
// ${mac:IFACE}, ${file:PATH} (content trimmed; relative to the config's
// folder) and ${env:NAME} expanded. A missing source is an *Error naming
// the parameter.
func (c *Config) Parameters(f Facts) (map[string]string, error) {
	out := make(map[string]string, len(c.Template.Parameters))
	for name, value := range c.Template.Parameters {
		expanded, err := expand(value, func(kind, arg string) (string, error) {
			return c.fact(f, kind, arg)
		})
		if err != nil {
			field := "template.parameters." + name
			return nil, &Error{File: c.Path, Line: c.lines[field], Field: field, Message: err.Error()}
		}
		out[name] = expanded
	}
	return out, nil
}

// ClientIDFor returns client_id, or when it is empty one derived from the
// machine id: "provisiond-" and the first 24 hex digits of its SHA-256, so
// the id is stable across reinstalls without revealing the machine id.
func (c *Config) ClientIDFor(f Facts) (string, error) {
	if c.ClientID != "" {
		return c.ClientID, nil
	}
	id, err := f.MachineID()
	if err == nil && strings.TrimSpace(id) == "" {
		err = errors.New("it is empty")
	}
	if err != nil {
		return "", &Error{File: c.Path, Line: c.lines["client_id"], Field: "client_id",
			Message: fmt.Sprintf("not set, and the machine id to derive it from cannot be read: %v", err)}
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(id)))
	return "provisiond-" + hex.EncodeToString(sum[:])[:24], nil
}

func (c *Config) fact(f Facts, kind, arg string) (string, error) {
	var (
		v   string
		err error
	)
	switch kind {
	case "machine_id":
		v, err = f.MachineID()
	case "hostname":
		v, err = f.Hostname()
	case "mac":
		v, err = f.MAC(arg)
	case "file":
		path := arg
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(c.Path), path)
		}
		v, err = f.File(path)
	case "env":
		var ok bool
		if v, ok = f.Env(arg); !ok {
			err = fmt.Errorf("environment variable %s is not set", arg)
		}
	default:
		err = fmt.Errorf("unknown placeholder")
	}
	if err == nil && v == "" {
		err = errors.New("empty")
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", placeholder(kind, arg), err)
	}
	return v, nil
}

func placeholder(kind, arg string) string {
	if arg == "" {
		return "${" + kind + "}"
	}
	return "${" + kind + ":" + arg + "}"
}

// expand replaces each ${...} in s using lookup(kind, arg).
func expand(s string, lookup func(kind, arg string) (string, error)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated placeholder %q", s[i:])
		}
		kind, arg, err := splitPlaceholder(s[i+2 : i+j])
		if err != nil {
			return "", err
		}
		v, err := lookup(kind, arg)
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// splitPlaceholder checks the inside of ${...}.
func splitPlaceholder(inner string) (kind, arg string, err error) {
	kind, arg, hasArg := strings.Cut(inner, ":")
	switch kind {
	case "machine_id", "hostname":
		if !hasArg {
			return kind, "", nil
		}
	case "mac", "file", "env":
		if hasArg && arg != "" {
			return kind, arg, nil
		}
		return "", "", fmt.Errorf("${%s} needs an argument: ${%s:...}", kind, kind)
	}
	return "", "", fmt.Errorf("unknown placeholder ${%s}; known: ${machine_id}, ${hostname}, ${mac:IFACE}, ${file:PATH}, ${env:NAME}", inner)
}

// checkPlaceholders validates a parameter value at load time, so a typo is
// reported by `provisiond check`, not at the first attempt.
func checkPlaceholders(s string) error {
	_, err := expand(s, func(kind, arg string) (string, error) { return "", nil })
	return err
}
