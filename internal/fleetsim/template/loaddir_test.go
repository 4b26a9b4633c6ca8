package template

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const minimal = `{"Resources": {}}`

func TestLoadDir(t *testing.T) {
	sample, err := os.ReadFile("testdata/aws_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{
		"GatewayTemplate.json":          string(sample),
		"GatewayTemplate.settings.json": `{"enabled": true, "preProvisioningHook": {"url": "http://127.0.0.1:8080/hook"}}`,
		"Off_2.json":                    minimal,
		"Off_2.settings.json":           `{"enabled": false}`,
		"plain-1.json":                  minimal,
		"README.md":                     "not a template",
	})
	if err := os.Mkdir(filepath.Join(dir, "old.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("loaded %d templates, want 3: %v", len(got), got)
	}
	gw := got["GatewayTemplate"]
	if gw == nil || gw.Name != "GatewayTemplate" || gw.Template == nil || !gw.Settings.Enabled ||
		gw.Settings.PreProvisioningHook == nil || gw.Settings.PreProvisioningHook.URL != "http://127.0.0.1:8080/hook" {
		t.Errorf("GatewayTemplate = %+v", gw)
	}
	if got["Off_2"].Settings.Enabled {
		t.Error("Off_2 should be disabled")
	}
	if s := got["plain-1"].Settings; !s.Enabled || s.PreProvisioningHook != nil {
		t.Errorf("plain-1 settings = %+v, want the defaults", s)
	}
}

func TestLoadDirRefusals(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		file  string
		msg   string
	}{
		{"bad template", map[string]string{"ok.json": minimal, "bad.json": `{"Resources": {}, "Conditions": {}}`},
			"bad.json", "Conditions"},
		{"bad name", map[string]string{"has.dot.json": minimal}, "has.dot.json", "invalid template name"},
		{"name too long", map[string]string{strings.Repeat("a", 37) + ".json": minimal}, strings.Repeat("a", 37) + ".json", "invalid template name"},
		{"orphan settings", map[string]string{"ok.json": minimal, "gone.settings.json": `{}`}, "gone.settings.json", "does not exist"},
		{"bad settings", map[string]string{"ok.json": minimal, "ok.settings.json": `{"enabled": "yes"}`}, "ok.settings.json", "invalid settings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			_, err := LoadDir(dir)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != filepath.Join(dir, tc.file) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want an error naming %s and containing %q", err, tc.file, tc.msg)
			}
		})
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing folder loaded without error")
	}
}

func TestLoadDirEmpty(t *testing.T) {
	got, err := LoadDir(t.TempDir())
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no templates", got, err)
	}
}

func TestParseSettings(t *testing.T) {
	good := map[string]Settings{
		`{}`:                 {Enabled: true},
		`{"enabled": false}`: {Enabled: false},
		`{"preProvisioningHook": {"url": "https://hooks.example.com/x"}}`: {Enabled: true,
			PreProvisioningHook: &Hook{URL: "https://hooks.example.com/x"}},
	}
	for body, want := range good {
		got, err := ParseSettings("s.json", []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got.Enabled != want.Enabled || (got.PreProvisioningHook == nil) != (want.PreProvisioningHook == nil) ||
			(want.PreProvisioningHook != nil && *got.PreProvisioningHook != *want.PreProvisioningHook) {
			t.Errorf("%s: got %+v, want %+v", body, got, want)
		}
	}
	bad := map[string]string{
		``:                     "invalid settings",
		`[]`:                   "invalid settings",
		`{"enable": true}`:     `unknown field "enable"`,
		`{"enabled": true} {}`: "data after",
		`{"enabled": "true"}`:  "invalid settings",
		`{"preProvisioningHook": {"url": "127.0.0.1:80/hook"}}`: "preProvisioningHook.url: expected an absolute http or https URL",
		`{"preProvisioningHook": {"url": "ftp://h/x"}}`:         "preProvisioningHook.url",
		`{"preProvisioningHook": {}}`:                           "preProvisioningHook.url",
		`{"preProvisioningHook": {"uri": "http://h/"}}`:         `unknown field "uri"`,
	}
	for body, msg := range bad {
		_, err := ParseSettings("s.json", []byte(body))
		if err == nil || !strings.HasPrefix(err.Error(), "s.json: ") || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want an error naming s.json and containing %q", body, err, msg)
		}
	}
}
