package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
)

// tokenClaimBase is base with the claim key in a token and key_store: file.
var tokenClaimBase = strings.Replace(base, "private_key: claim.key", `private_key: "pkcs11:token=claims;object=claim"`, 1) + `pkcs11:
  module: /usr/lib/softhsm/libsofthsm2.so
  pin: file:/etc/provisiond/claim.pin
`

func TestParseClaimKeyInAToken(t *testing.T) {
	c, err := Parse("/etc/provisiond/config.yaml", []byte(tokenClaimBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyStore != KeyStoreFile || c.Claims[0].PrivateKey != "pkcs11:token=claims;object=claim" ||
		c.PKCS11.Module != "/usr/lib/softhsm/libsofthsm2.so" || c.PKCS11.PIN != "file:/etc/provisiond/claim.pin" {
		t.Fatalf("key store %q, claim key %q, pkcs11 %+v", c.KeyStore, c.Claims[0].PrivateKey, c.PKCS11)
	}
}

func TestParseClaimKeyInATokenErrors(t *testing.T) {
	noSection := strings.Replace(base, "private_key: claim.key", `private_key: "pkcs11:token=claims;object=claim"`, 1)
	wantParseErrors(t, []parseErrorCase{
		{"no pkcs11 section", noSection, 5, "pkcs11.module", "required: claim.private_key is a key in a PKCS#11 token"},
		{"no pin", strings.Replace(tokenClaimBase, "  pin: file:/etc/provisiond/claim.pin\n", "", 1), 14, "pkcs11.pin", "claim.private_key is a key in a PKCS#11 token"},
		{"no key selected", strings.Replace(tokenClaimBase, ";object=claim", "", 1), 5, "claim.private_key", "must select the claim key by object=LABEL or id="},
		{"not a private key", strings.Replace(tokenClaimBase, ";object=claim", ";object=claim;type=cert", 1), 5, "claim.private_key", "type= is private"},
		{"PIN in the URI", strings.Replace(tokenClaimBase, ";object=claim", ";object=claim?pin-value=1234", 1), 5, "claim.private_key", "query attributes"},
		{"PIN as an attribute", strings.Replace(tokenClaimBase, ";object=claim", ";object=claim;pin-value=1234", 1), 5, "claim.private_key", "unknown attribute pin-value"},
		{"bad escape", strings.Replace(tokenClaimBase, ";object=claim", ";id=%0", 1), 5, "claim.private_key", "two hex digits"},
		{"in a list", strings.Replace(noSection, "claim:\n  certificate: claim.crt\n  private_key:", "claim:\n- certificate: claim.crt\n  private_key:", 1),
			5, "pkcs11.module", "claim[0].private_key is a key in a PKCS#11 token"},
	})
}

// CheckFiles opens the token the claim key is in and proves the key is
// the certificate's; a key that is not, or is not there, fails the config
// naming the field, without the PIN.
func TestCheckFilesClaimKeyInAToken(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("claims")
	dir := t.TempDir()
	writePair(t, dir, "ca.pem", "")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m.WriteKey(tok, key, "claim", []byte{7})
	writeCert(t, filepath.Join(dir, "claim.crt"), "claim", key)
	src := strings.NewReplacer("/usr/lib/softhsm/libsofthsm2.so", m.Path, "file:/etc/provisiond/claim.pin", tok.PIN).Replace(tokenClaimBase)
	path := filepath.Join(dir, "config.yaml")
	write(t, path, []byte(src+"state_directory: state\n"))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckFiles(); err != nil {
		t.Fatalf("claim key in the token: %v", err)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writeCert(t, filepath.Join(dir, "claim.crt"), "claim", other)
	err = c.CheckFiles()
	var e *Error
	if !errors.As(err, &e) || e.Field != "claim.private_key" || !strings.Contains(err.Error(), "is not the certificate's") {
		t.Fatalf("a certificate for another key: %v", err)
	}
	c.Claims[0].PrivateKey = "pkcs11:token=claims;object=gone"
	if err := c.CheckFiles(); !errors.As(err, &e) || e.Field != "claim.private_key" || !strings.Contains(err.Error(), "no private key with pkcs11:object=gone") {
		t.Fatalf("no such key: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), p11test.UserPIN) {
		t.Fatalf("the error shows the PIN: %v", err)
	}
}
