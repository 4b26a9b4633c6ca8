package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseEndpoint checks host[:port] and adds the default port.
func parseEndpoint(s string) (string, error) {
	if strings.Contains(s, "://") {
		return "", fmt.Errorf("must be host[:port], not a URL, got %q", s)
	}
	if strings.ContainsAny(s, "/ \t?#@") {
		return "", fmt.Errorf("must be host[:port], got %q", s)
	}
	host, port := s, DefaultPort
	if h, pt, err := net.SplitHostPort(s); err == nil {
		host, port = h, pt
	} else if net.ParseIP(s) == nil && strings.Contains(s, ":") {
		return "", fmt.Errorf("must be host[:port], got %q", s)
	}
	if host == "" {
		return "", fmt.Errorf("missing host in %q", s)
	}
	if net.ParseIP(host) == nil && !validHostname(host) {
		return "", fmt.Errorf("%q is not a valid host name", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port must be a number from 1 to 65535, got %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// checkClientID applies the AWS IoT limit on MQTT client ids.
func checkClientID(id string) error {
	if len(id) > 128 {
		return fmt.Errorf("must be at most 128 bytes, got %d", len(id))
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("must be valid UTF-8")
	}
	if strings.TrimSpace(id) != id {
		return fmt.Errorf("must not start or end with spaces")
	}
	return nil
}
