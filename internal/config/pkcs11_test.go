package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/p11key"
)

const pkcs11Base = base + `key_store: pkcs11
pkcs11:
  module: /usr/lib/softhsm/libsofthsm2.so
  token: "pkcs11:token=device;serial=00ab"
  pin: file:/etc/provisiond/pkcs11.pin
`

func TestParsePKCS11(t *testing.T) {
	c, err := Parse("/etc/provisiond/config.yaml", []byte(pkcs11Base+"key_type: rsa-3072\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := p11key.Settings{Module: "/usr/lib/softhsm/libsofthsm2.so", Token: "pkcs11:token=device;serial=00ab",
		PIN: "file:/etc/provisiond/pkcs11.pin", Label: "provisiond"}
	if c.KeyStore != "pkcs11" || c.PKCS11 != want {
		t.Fatalf("key store %q, pkcs11 %+v", c.KeyStore, c.PKCS11)
	}
	src := strings.Replace(pkcs11Base, "certificate_method: csr", "certificate_method: create-keys", 1) +
		"  label: gw\n  import: true\n"
	c, err = Parse("/etc/provisiond/config.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !c.PKCS11.Import || c.PKCS11.Label != "gw" || c.PKCS11.PIN != "file:/etc/provisiond/pkcs11.pin" {
		t.Fatalf("pkcs11 %+v", c.PKCS11)
	}
}

// parseErrorCase is a config that Parse refuses, with the line and field
// its *Error names and words its message holds.
type parseErrorCase struct {
	name, src   string
	line        int
	field, want string
}

// wantParseErrors checks each case's error, and that none quotes the PIN
// 1234 the cases may hold.
func wantParseErrors(t *testing.T, cases []parseErrorCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/provisiond/config.yaml", []byte(tc.src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want *Error", err)
			}
			if e.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("got line %d field %q: %v; want line %d field %q saying %q", e.Line, e.Field, err, tc.line, tc.field, tc.want)
			}
			if strings.Contains(err.Error(), "1234") {
				t.Fatalf("the error quotes a PIN: %v", err)
			}
		})
	}
}

func TestParsePKCS11Errors(t *testing.T) {
	wantParseErrors(t, []parseErrorCase{
		{"create-keys without import", strings.Replace(pkcs11Base, "certificate_method: csr", "certificate_method: create-keys", 1),
			14, "key_store", "needs pkcs11.import: true"},
		{"no section", base + "key_store: pkcs11\n", 14, "pkcs11.module", "required"},
		{"no pin", strings.Replace(pkcs11Base, "  pin: file:/etc/provisiond/pkcs11.pin\n", "", 1), 15, "pkcs11.pin", "required"},
		{"relative module", strings.Replace(pkcs11Base, "module: /usr/lib/", "module: ", 1), 16, "pkcs11.module", "absolute path"},
		{"slot-id", strings.Replace(pkcs11Base, "token=device;serial=00ab", "slot-id=0", 1), 17, "pkcs11.token", "slot-id does not select"},
		{"object in token", strings.Replace(pkcs11Base, "serial=00ab", "object=key", 1), 17, "pkcs11.token", "selects the token only"},
		{"not a URI", strings.Replace(pkcs11Base, `"pkcs11:token=device;serial=00ab"`, "device", 1), 17, "pkcs11.token", "must be a pkcs11: URI"},
		{"PIN in the config", strings.Replace(pkcs11Base, "file:/etc/provisiond/pkcs11.pin", `"1234"`, 1), 18, "pkcs11.pin", "must be file:PATH, credential:NAME or none"},
		{"relative PIN file", strings.Replace(pkcs11Base, "file:/etc/", "file:", 1), 18, "pkcs11.pin", "absolute path"},
		{"import not a bool", pkcs11Base + "  import: maybe\n", 19, "pkcs11.import", "true or false"},
		{"empty label", pkcs11Base + "  label: \"\"\n", 19, "pkcs11.label", "printable prefix"},
		{"unknown key", pkcs11Base + "  slot: 0\n", 19, "pkcs11.slot", "unknown key"},
		{"key type", pkcs11Base + "key_type: rsa-1024\n", 19, "key_type", "must be"},
	})
}
