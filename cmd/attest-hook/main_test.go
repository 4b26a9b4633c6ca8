package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/attest/attesttest"
)

func TestExitCodes(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "roots.txt")
	writeFile(t, notPEM, []byte("not a certificate"))
	roots := attesttest.NewCA(t, "Test OEM Root").CertFile
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no roots", []string{"--listen", "127.0.0.1:0"}, exitUsage, "--roots (or ATTEST_HOOK_ROOTS) is required"},
		{"neither Lambda nor --listen", []string{"--roots", notPEM}, exitUsage, "give --listen"},
		{"unknown flag", []string{"--colour", "x"}, exitUsage, "flag provided but not defined: -colour"},
		{"roots missing", []string{"--roots", filepath.Join(dir, "none.pem"), "--listen", "127.0.0.1:0"}, exitConfig, "--roots: open "},
		{"roots not PEM", []string{"--roots", notPEM, "--listen", "127.0.0.1:0"}, exitConfig, "roots.txt holds no PEM certificate"},
		{"thing name source", []string{"--roots", roots, "--listen", "127.0.0.1:0", "--thing-name-from", "mac"}, exitConfig, "--thing-name-from: thing name source \"mac\""},
		{"parameter names", []string{"--roots", roots, "--listen", "127.0.0.1:0", "--parameter-names", "Colour=X"}, exitConfig, "--parameter-names: "},
		{"log level", []string{"--roots", roots, "--listen", "127.0.0.1:0", "--log-level", "loud"}, exitConfig, "--log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}

func TestSettingsFromTheEnvironment(t *testing.T) {
	t.Setenv("ATTEST_HOOK_ROOTS", "/etc/oem.pem")
	t.Setenv("ATTEST_HOOK_THING_NAME_FROM", "common-name")
	t.Setenv("ATTEST_HOOK_PARAMETER_NAMES", "Format=F")
	o, err := parseFlags([]string{"--thing-name-from", "certificate-serial"})
	if err != nil || o.roots != "/etc/oem.pem" || o.thingNameFrom != "certificate-serial" || o.parameterNames != "Format=F" {
		t.Fatalf("got %+v %v", o, err)
	}
}
