package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/rotation"
)

const day = 24 * time.Hour

// base ends on line 13; the rotation settings below start on line 14.
func TestParseRotation(t *testing.T) {
	for _, tc := range []struct {
		name        string
		yaml        string
		want        Rotation
		verifyEvery time.Duration
	}{
		{"absent: off", "", Rotation{}, 0},
		{"empty values, as packaged: off", "rotation: {after: \"\", before_expiry: \"\", jitter: 10%, credential: claim, template: \"\"}\nverify_every: \"\"\n",
			Rotation{Policy: rotation.Policy{Jitter: rotation.Jitter{Share: 0.1}}, Credential: "claim"}, 0},
		{"age in days", "rotation: {after: 365d}\n", Rotation{Policy: rotation.Policy{After: 365 * day}}, 0},
		{"age in days and hours", "rotation: {after: 1d12h}\n", Rotation{Policy: rotation.Policy{After: 36 * time.Hour}}, 0},
		{"age in minutes", "rotation: {after: 90m}\n", Rotation{Policy: rotation.Policy{After: 90 * time.Minute}}, 0},
		{"margin before expiry", "rotation:\n  before_expiry: 30d\n", Rotation{Policy: rotation.Policy{BeforeExpiry: 30 * day}}, 0},
		{"share of the lifetime", "rotation:\n  before_expiry: 80%\n", Rotation{Policy: rotation.Policy{LifetimeShare: 0.8}}, 0},
		{"fractional share", "rotation:\n  before_expiry: 12.5%\n", Rotation{Policy: rotation.Policy{LifetimeShare: 0.125}}, 0},
		{"both rules, fixed jitter", "rotation: {after: 365d, before_expiry: 30d, jitter: 6h}\n",
			Rotation{Policy: rotation.Policy{After: 365 * day, BeforeExpiry: 30 * day, Jitter: rotation.Jitter{Fixed: 6 * time.Hour}}}, 0},
		{"jitter off", "rotation: {after: 1h, jitter: \"0\"}\n", Rotation{Policy: rotation.Policy{After: time.Hour, Jitter: rotation.Jitter{None: true}}}, 0},
		{"jitter 0%", "rotation: {after: 1h, jitter: 0%}\n", Rotation{Policy: rotation.Policy{After: time.Hour, Jitter: rotation.Jitter{None: true}}}, 0},
		{"device credential", "rotation: {after: 90d, credential: device, template: Rotate_1}\n",
			Rotation{Policy: rotation.Policy{After: 90 * day}, Credential: "device", Template: "Rotate_1"}, 0},
		{"verify_every", "verify_every: 24h\n", Rotation{}, 24 * time.Hour},
		{"verify_every in days", "verify_every: 7d\n", Rotation{}, 7 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("/etc/provisiond/config.yaml", []byte(base+tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.Rotation != tc.want || c.VerifyEvery != tc.verifyEvery {
				t.Errorf("got %+v, verify_every %s; want %+v, %s", c.Rotation, c.VerifyEvery, tc.want, tc.verifyEvery)
			}
			if c.Rotation.WithDevice() != (tc.want.Credential == "device") {
				t.Errorf("WithDevice = %v for credential %q", c.Rotation.WithDevice(), tc.want.Credential)
			}
		})
	}
}

func TestParseRotationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml  string
		line        int
		field, want string
	}{
		{"share over 100%", "rotation:\n  before_expiry: 120%\n", 15, "rotation.before_expiry",
			`"120%" is not a share of the lifetime between 0% and 100%`},
		{"share of 100%", "rotation:\n  before_expiry: 100%\n", 15, "rotation.before_expiry", "between 0% and 100%"},
		{"share of 0%", "rotation:\n  before_expiry: 0%\n", 15, "rotation.before_expiry", "between 0% and 100%"},
		{"share not a number", "rotation:\n  before_expiry: lots%\n", 15, "rotation.before_expiry", `"lots%" is not a percentage`},
		{"margin without unit", "rotation:\n  before_expiry: 30\n", 15, "rotation.before_expiry", `such as "30d", or a share of the lifetime such as "80%"`},
		{"age without unit", "rotation: {after: 365}\n", 14, "rotation.after", `positive duration such as "365d"`},
		{"negative age", "rotation: {after: -1h}\n", 14, "rotation.after", "positive duration"},
		{"zero age", "rotation: {after: 0d}\n", 14, "rotation.after", "positive duration"},
		{"fractional days", "rotation: {after: 1.5d}\n", 14, "rotation.after", "positive duration"},
		{"days twice", "rotation: {after: 1d2d}\n", 14, "rotation.after", "positive duration"},
		{"days overflow", "rotation: {after: 200000d}\n", 14, "rotation.after", "292 years"},
		{"jitter over 100%", "rotation: {after: 1h, jitter: 150%}\n", 14, "rotation.jitter", "between 0% and 100%"},
		{"jitter negative", "rotation: {after: 1h, jitter: -5%}\n", 14, "rotation.jitter", "between 0% and 100%"},
		{"jitter nonsense", "rotation: {after: 1h, jitter: some}\n", 14, "rotation.jitter", `such as "10%" or a duration`},
		{"unknown credential", "rotation: {after: 1h, credential: password}\n", 14, "rotation.credential", `must be claim or device, got "password"`},
		{"device without template", "rotation:\n  after: 1h\n  credential: device\n", 14, "rotation.template", "required with credential: device"},
		{"template with the claim", "rotation:\n  after: 1h\n  template: Rotate\n", 16, "rotation.template", "only used with credential: device"},
		{"bad template name", "rotation: {after: 1h, credential: device, template: \"a b\"}\n", 14, "rotation.template", "1 to 36"},
		{"unknown key", "rotation:\n  before_expire: 30d\n", 15, "rotation.before_expire", `did you mean "before_expiry"?`},
		{"not a mapping", "rotation: 365d\n", 14, "rotation", "must be a mapping"},
		{"verify_every without unit", "verify_every: 24\n", 14, "verify_every", "positive duration"},
		{"verify_every misspelt", "verify_evry: 24h\n", 14, "verify_evry", `did you mean "verify_every"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/provisiond/config.yaml", []byte(base+tc.yaml))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want *Error", err)
			}
			if e.Line != tc.line || e.Field != tc.field {
				t.Errorf("got line %d field %q, want line %d field %q (%v)", e.Line, e.Field, tc.line, tc.field, err)
			}
			if !strings.Contains(e.Message, tc.want) {
				t.Errorf("message %q does not contain %q", e.Message, tc.want)
			}
		})
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1d": day, "365d": 365 * day, "2d3h4m": 2*day + 3*time.Hour + 4*time.Minute,
		"24h": 24 * time.Hour, "90m": 90 * time.Minute, "1.5h": 90 * time.Minute, "3s": 3 * time.Second,
	} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1d-1h", "0", "0s", "1w", "1 d"} {
		if got, err := parseAge(in); err == nil {
			t.Errorf("parseAge(%q) = %s, want an error", in, got)
		}
	}
}
