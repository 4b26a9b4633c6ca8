package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// A bad config makes `run` and `check` exit 78 with a message naming the problem.
func TestBadConfigExits78NamingTheProblem(t *testing.T) {
	dir := t.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{Listen: "127.0.0.1:8883"}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "provisiond.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("generated config has no %q:\n%s", old, s)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	for _, tc := range []struct {
		name, want string
		edit       func(string) string
	}{
		{"yaml error", "yaml", func(s string) string { return s + "\n  : : [\n" }},
		{"missing template name", "template.name", replace("name: GatewayTemplate", "name: \"\"")},
		{"missing claim file", "claim.pem.crt", replace("claim.pem.crt", "no-such-claim.pem.crt")},
		{"unknown payload_format", "payload_format", func(s string) string { return s + "\npayload_format: xml\n" }},
		{"unknown certificate_method", "certificate_method", func(s string) string { return s + "\ncertificate_method: magic\n" }},
		{"tpm2-certify without a TPM key", "attestation.format", func(s string) string {
			return s + "\nattestation: {format: tpm2-certify, key: \"handle:0x81020000\", certificate: attestation.crt}\n"
		}},
		{"unexpandable parameter", "template.parameters.SerialNumber",
			replace(`{SerialNumber: "0001"}`, `{SerialNumber: "${env:`+unsetEnv+`}"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			body := strings.ReplaceAll(tc.edit(string(good)), "claim.pem", filepath.Join(dir, "claim.pem"))
			body = strings.ReplaceAll(body, "root_ca: ca.pem", "root_ca: "+filepath.Join(dir, "ca.pem"))
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"run", "check"} {
				var out, errOut bytes.Buffer
				code := runCLI([]string{cmd, "--config", path}, &out, &errOut)
				if code != exitConfig {
					t.Fatalf("%s exit %d, want 78; stderr: %s", cmd, code, errOut.String())
				}
				if msg := errOut.String(); !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.want)) {
					t.Fatalf("%s: stderr %q does not name %q", cmd, msg, tc.want)
				}
			}
		})
	}
}
