package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// validConfig writes a config whose files exist, with the template
// parameter's value and the claim certificate's name given, and returns its
// path.
func validConfig(t *testing.T, parameter, claimCert string) string {
	t.Helper()
	dir := t.TempDir()
	writePair(t, dir, "ca.pem", "")
	writePair(t, dir, "claim.crt", "claim.key")
	path := filepath.Join(dir, "config.yaml")
	body := strings.Replace(base, `"${file:serial.txt}"`, parameter, 1)
	body = strings.Replace(body, "certificate: claim.crt", "certificate: "+claimCert, 1)
	write(t, path, []byte(body+"client_id: gw-0001\nstate_directory: state\n"))
	return path
}

// LoadValid refuses what the daemon could not start with, naming the file
// and the field, beyond what Load checks.
func TestLoadValid(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("https_proxy", "")
	if _, err := LoadValid(validConfig(t, `"0001"`, "claim.crt")); err != nil {
		t.Fatalf("LoadValid of a valid config: %v", err)
	}
	for _, tc := range []struct {
		name, parameter, claimCert, env string
		field                           string // the *Error's field, "" for an error that is not one
		want                            string
	}{
		{name: "unexpandable parameter", parameter: `"${env:PROVISIOND_TEST_NEVER_SET_5B1E}"`, claimCert: "claim.crt",
			field: "template.parameters.Serial", want: "PROVISIOND_TEST_NEVER_SET_5B1E"},
		{name: "missing claim file", parameter: `"0001"`, claimCert: "none.crt",
			field: "claim.certificate", want: "none.crt"},
		{name: "bad HTTPS_PROXY", parameter: `"0001"`, claimCert: "claim.crt", env: "ftp://proxy.example:21", want: "HTTPS_PROXY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := validConfig(t, tc.parameter, tc.claimCert)
			if tc.env != "" {
				t.Setenv("HTTPS_PROXY", tc.env)
			}
			if _, err := Load(path); err != nil {
				t.Fatalf("Load already refuses it (%v): the case tests nothing of LoadValid's own", err)
			}
			_, err := LoadValid(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadValid = %v, want an error naming %s and %q", err, path, tc.want)
			}
			var ce *Error
			if tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field) {
				t.Fatalf("LoadValid = %#v, want an *Error for field %s", err, tc.field)
			}
		})
	}
}
