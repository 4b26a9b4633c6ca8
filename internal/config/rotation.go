package config

import (
	"github.com/provisiond/provisiond/internal/fleet"

	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/rotation"
	"gopkg.in/yaml.v3"
)

// The rotation section and verify_every, kept in their own file (keys,
// parsing, defaults) so that the rest of the parser does not change with them.
var rotationKeys = []string{"after", "before_expiry", "jitter", "credential", "template"}

func init() { topKeys = append(topKeys, "rotation", "verify_every") }

// Credentials a rotation may be requested with.
const (
	RotateWithClaim  = "claim"
	RotateWithDevice = "device"
)

// Rotation is the rotation section: when the identity is renewed by itself
// (Policy; off unless after or before_expiry is set) and with which
// credential: the claim, as `reprovision` does, or the current device
// certificate with its own template.
type Rotation struct {
	Policy     rotation.Policy
	Credential string // claim | device; "" (not set) is claim
	Template   string // the rotation template, with credential: device only
}

// WithDevice reports whether a rotation is requested with the current device
// certificate rather than the claim (the default).
func (r Rotation) WithDevice() bool { return r.Credential == RotateWithDevice }

// rotationSettings reads rotation and verify_every into c.
func (p *parser) rotationSettings(top map[string]*yaml.Node, c *Config) error {
	if n := top["verify_every"]; n != nil {
		s, err := p.scalar(n, "verify_every")
		if err != nil {
			return err
		}
		if s != "" {
			if c.VerifyEvery, err = parseAge(s); err != nil {
				return p.errorf(deref(n).Line, "verify_every", "%v", err)
			}
		}
	}
	n := top["rotation"]
	if n == nil {
		return nil
	}
	m, err := p.mapping(n, "rotation.", rotationKeys)
	if err != nil {
		return err
	}
	r := &c.Rotation
	allowed := []string{RotateWithClaim, RotateWithDevice}
	// Each key, when given and not empty, goes through its reader; an error
	// names the key and its line.
	for _, k := range []struct {
		key  string
		read func(string) error
	}{
		{"after", func(s string) (err error) { r.Policy.After, err = parseAge(s); return err }},
		{"before_expiry", func(s string) error { return parseBeforeExpiry(s, &r.Policy) }},
		{"jitter", func(s string) (err error) { r.Policy.Jitter, err = parseJitter(s); return err }},
		{"credential", func(s string) error {
			if !slices.Contains(allowed, s) {
				return fmt.Errorf("must be %s, got %q", orList(allowed), s)
			}
			r.Credential = s
			return nil
		}},
		{"template", func(s string) error { r.Template = s; return nil }},
	} {
		v := m[k.key]
		if v == nil {
			continue
		}
		field := "rotation." + k.key
		s, err := p.scalar(v, field)
		if err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if err := k.read(s); err != nil {
			return p.errorf(deref(v).Line, field, "%v", err)
		}
	}
	switch {
	case r.Credential == RotateWithDevice && r.Template == "":
		return p.errorf(p.missingLine(m, n, "rotation.template"), "rotation.template",
			"required with credential: device (the template the device certificate may use)")
	case r.Credential != RotateWithDevice && r.Template != "":
		return p.errorf(p.lines["rotation.template"], "rotation.template",
			"only used with credential: device; with the claim, rotation uses template.name")
	case r.Template != "" && fleet.ValidateTemplateName(r.Template) != nil:
		return p.errorf(p.lines["rotation.template"], "rotation.template", "must be 1 to 36 letters, digits, '_' or '-', got %q", r.Template)
	}
	return nil
}

// parseAge reads a positive duration in Go's syntax extended with days:
// "365d", "1d12h", "24h", "90m".
func parseAge(s string) (time.Duration, error) {
	bad := fmt.Errorf("must be a positive duration such as \"365d\", \"24h\" or \"90m\", got %q", s)
	var d time.Duration
	rest := s
	if days, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 64)
		if err != nil || strings.Contains(after, "d") {
			return 0, bad
		}
		if n > uint64(math.MaxInt64/int64(24*time.Hour)) {
			return 0, fmt.Errorf("%q is longer than the 292 years a duration holds", s)
		}
		d, rest = time.Duration(n)*24*time.Hour, after
	}
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil || more < 0 || d+more < d {
			return 0, bad
		}
		d += more
	}
	if d <= 0 {
		return 0, bad
	}
	return d, nil
}

// parseShare reads "80%" as 0.8; ok is false without a "%".
func parseShare(s string) (share float64, ok bool, err error) {
	num, found := strings.CutSuffix(s, "%")
	if !found {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, true, fmt.Errorf("%q is not a percentage", s)
	}
	return v / 100, true, nil
}

func parseBeforeExpiry(s string, p *rotation.Policy) error {
	share, isShare, err := parseShare(s)
	if err != nil {
		return err
	}
	if isShare {
		if share <= 0 || share >= 1 {
			return fmt.Errorf("%q is not a share of the lifetime between 0%% and 100%%", s)
		}
		p.LifetimeShare = share
		return nil
	}
	if p.BeforeExpiry, err = parseAge(s); err != nil {
		return fmt.Errorf("must be a duration before expiry such as \"30d\", or a share of the lifetime such as \"80%%\", got %q", s)
	}
	return nil
}

// parseJitter reads a share of the period ("10%") or a duration ("6h");
// "0" and "0%" turn spreading off.
func parseJitter(s string) (rotation.Jitter, error) {
	share, isShare, err := parseShare(s)
	if err != nil {
		return rotation.Jitter{}, err
	}
	switch {
	case isShare && (share < 0 || share > 1):
		return rotation.Jitter{}, fmt.Errorf("%q is not a share of the period between 0%% and 100%%", s)
	case isShare && share == 0, s == "0":
		return rotation.Jitter{None: true}, nil
	case isShare:
		return rotation.Jitter{Share: share}, nil
	}
	d, err := parseAge(s)
	if err != nil {
		return rotation.Jitter{}, fmt.Errorf("must be a share of the period such as \"10%%\" or a duration such as \"6h\", got %q", s)
	}
	return rotation.Jitter{Fixed: d}, nil
}
