package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const singleClaim = "claim:\n  certificate: claim.crt\n  private_key: claim.key\n"

func TestParseClaimList(t *testing.T) {
	src := strings.Replace(base, singleClaim, `claim:
  - certificate: batch-7.crt
    private_key: batch-7.key
  - {certificate: spare.crt, private_key: "credential:spare.key"}
  - source: import
    templates: [InstallerTemplate]
    parameters: [SerialNumber, Site]
`, 1)
	c, err := Parse("/etc/provisiond/config.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Claim{
		{Certificate: "/etc/provisiond/batch-7.crt", PrivateKey: "/etc/provisiond/batch-7.key", Field: "claim[0]"},
		{Certificate: "/etc/provisiond/spare.crt", PrivateKey: "credential:spare.key", Field: "claim[1]"},
		{Import: &ClaimImport{Templates: []string{"InstallerTemplate"}, Parameters: []string{"SerialNumber", "Site"}}, Field: "claim[2]"},
	}
	if !reflect.DeepEqual(c.Claims, want) {
		t.Fatalf("Claims = %+v\nwant %+v", c.Claims, want)
	}
	if got := c.FileClaims(); len(got) != 2 || got[1].Name() != "/etc/provisiond/spare.crt" {
		t.Errorf("FileClaims = %+v", got)
	}
	if imp := c.ClaimImport(); imp == nil || imp.Templates[0] != "InstallerTemplate" {
		t.Errorf("ClaimImport = %+v", imp)
	}
	if c.Claims[2].Name() != "imported claim" {
		t.Errorf("Name = %q", c.Claims[2].Name())
	}
}

func TestParseClaimImportOnly(t *testing.T) {
	c, err := Parse("/etc/provisiond/config.yaml", []byte(strings.Replace(base, singleClaim, "claim: {source: import}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Claims) != 1 || c.ClaimImport() == nil || len(c.FileClaims()) != 0 {
		t.Fatalf("Claims = %+v", c.Claims)
	}
}

func TestParseClaimErrors(t *testing.T) {
	for _, tc := range []struct {
		name, claim string
		line        int
		field, want string
	}{
		{"empty list", "claim: []\n", 3, "claim", "the list is empty"},
		{"a list item not a mapping", "claim:\n  - claim.crt\n", 4, "claim[0]", "must be a mapping"},
		{"a list item without key", "claim:\n  - {certificate: a.crt, private_key: a.key}\n  - certificate: b.crt\n", 5, "claim[1].private_key", "required"},
		{"a source other than import", "claim: {source: usb}\n", 3, "claim.source", `must be "import"`},
		{"import with a certificate", "claim: {source: import, certificate: a.crt}\n", 3, "claim.certificate", "unknown key"},
		{"two imports", "claim:\n  - source: import\n  - source: import\n", 5, "claim[1]", "given twice"},
		{"a bad template name", "claim: {source: import, templates: [\"bad name\"]}\n", 3, "claim.templates", "only 0-9, A-Z"},
		{"parameters not a list", "claim: {source: import, parameters: Serial}\n", 3, "claim.parameters", "must be a list"},
		{"a repeated parameter", "claim: {source: import, parameters: [A, A]}\n", 3, "claim.parameters", "given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/provisiond/config.yaml", []byte(strings.Replace(base, singleClaim, tc.claim, 1)))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want *Error", err)
			}
			if e.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
				t.Errorf("got line %d field %q %q, want line %d field %q containing %q", e.Line, e.Field, e.Message, tc.line, tc.field, tc.want)
			}
		})
	}
}

func TestCheckFilesPassesOverAnUnreadableClaimWhileAnotherReads(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "ca.pem", "")
	writePair(t, dir, "claim.crt", "claim.key")
	list := "claim:\n  - {certificate: missing.crt, private_key: missing.key}\n  - {certificate: claim.crt, private_key: claim.key}\n"
	path := filepath.Join(dir, "config.yaml")
	write(t, path, []byte(strings.Replace(base, singleClaim, list, 1)))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckFiles(); err != nil {
		t.Fatalf("CheckFiles with one readable claim of two: %v", err)
	}
	if probs := c.ClaimProblems(c.Claims[0]); len(probs) == 0 || !strings.Contains(probs[0].Error(), "claim[0].certificate") {
		t.Fatalf("ClaimProblems(claim[0]) = %v, want the missing certificate named", probs)
	}

	write(t, path, []byte(strings.Replace(base, singleClaim, "claim:\n  - {certificate: missing.crt, private_key: missing.key}\n", 1)))
	if c, err = Load(path); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckFiles(); err == nil || !strings.Contains(err.Error(), "claim[0].certificate") {
		t.Fatalf("CheckFiles with no readable claim = %v, want claim[0].certificate named", err)
	}
}
