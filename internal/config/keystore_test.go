package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

func TestParseKeyStore(t *testing.T) {
	c, err := Parse("/etc/provisiond/config.yaml", []byte(base+`key_type: rsa-2048
key_store: tpm
tpm:
  device: tcp://127.0.0.1:2321
  parent: "0x81000001"
  handle: "0x81000002"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := tpmkey.Settings{Device: "tcp://127.0.0.1:2321", Parent: "0x81000001", Handle: "0x81000002"}
	if c.KeyStore != "tpm" || c.TPM != want {
		t.Fatalf("key store %q, tpm %+v", c.KeyStore, c.TPM)
	}

	for spec, want := range map[string]string{
		"credential:provisiond-claim": "credential:provisiond-claim",
		"handle:0x81000003":           "handle:0x81000003",
		"claim.key":                   "/etc/provisiond/claim.key",
	} {
		c, err := Parse("/etc/provisiond/config.yaml", []byte(strings.Replace(base, "private_key: claim.key", "private_key: "+spec, 1)))
		if err != nil || c.Claims[0].PrivateKey != want {
			t.Fatalf("private_key %s: %q, %v", spec, c.Claims[0].PrivateKey, err)
		}
	}
}

func TestParseKeyStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, add   string
		line        int
		field, want string
	}{
		{"create-keys", "key_store: tpm\n", 14, "key_store", "cannot be born in the TPM"},
		{"rsa-3072", "key_store: tpm\nkey_type: rsa-3072\n", 15, "key_type", "ec-p256, ec-p384 or rsa-2048 with key_store: tpm"},
		{"unknown store", "key_store: hsm\n", 14, "key_store", "must be file, tpm or pkcs11"},
		{"bad handle", "key_store: tpm\ntpm: {handle: 81000001}\n", 15, "tpm.handle", "0x81xxxxxx"},
		{"platform handle", "key_store: tpm\ntpm: {handle: \"0x81800000\"}\n", 15, "tpm.handle", "0x81000000 to 0x817FFFFF"},
		{"bad parent", "key_store: tpm\ntpm: {parent: srk}\n", 15, "tpm.parent", "0x81xxxxxx"},
		{"handle is the parent", "key_store: tpm\ntpm: {parent: \"0x81000001\", handle: \"0x81000001\"}\n", 15, "tpm.handle", "handle of its own"},
		{"relative device", "key_store: tpm\ntpm: {device: tpmrm0}\n", 15, "tpm.device", "device path"},
		{"device URL", "key_store: tpm\ntpm: {device: \"tcp://localhost\"}\n", 15, "tpm.device", "tcp://HOST:PORT"},
		{"unknown tpm key", "key_store: tpm\ntpm: {devcie: /dev/tpm0}\n", 15, "tpm.devcie", `did you mean "device"`},
		{"handle without tpm store", "tpm: {handle: \"0x81000001\"}\n", 14, "tpm.handle", "key_store: tpm"},
		{"empty credential", "", 5, "claim.private_key", "credential name"},
		{"bad claim handle", "", 5, "claim.private_key", "0x81xxxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := base + tc.add
			switch tc.name {
			case "create-keys":
				src = strings.Replace(src, "certificate_method: csr", "certificate_method: create-keys", 1)
			case "empty credential":
				src = strings.Replace(base, "private_key: claim.key", "private_key: \"credential:\"", 1)
			case "bad claim handle":
				src = strings.Replace(base, "private_key: claim.key", "private_key: handle:1", 1)
			}
			_, err := Parse("/etc/provisiond/config.yaml", []byte(src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want *Error", err)
			}
			if e.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("got line %d field %q: %v; want line %d field %q saying %q", e.Line, e.Field, err, tc.line, tc.field, tc.want)
			}
		})
	}
}

func TestCheckFilesCredentialClaimKey(t *testing.T) {
	c, dir := checkedConfig(t)
	key, err := os.ReadFile(filepath.Join(dir, "claim.key"))
	if err != nil {
		t.Fatal(err)
	}
	creds := t.TempDir()
	write(t, filepath.Join(creds, "claim"), key)
	c.Claims[0].PrivateKey = "credential:claim"

	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	if err := c.CheckFiles(); err != nil {
		t.Fatalf("credential claim key: %v", err)
	}
	os.Remove(filepath.Join(creds, "claim"))
	if err := c.CheckFiles(); err == nil || !strings.Contains(err.Error(), "claim.private_key: credential claim is missing") {
		t.Fatalf("missing credential: %v", err)
	}
	os.Unsetenv("CREDENTIALS_DIRECTORY")
	if err := c.CheckFiles(); err == nil || !strings.Contains(err.Error(), "claim.private_key: credential:claim needs $CREDENTIALS_DIRECTORY") {
		t.Fatalf("no credentials directory: %v", err)
	}
}

func TestCheckTPM(t *testing.T) {
	c, _ := checkedConfig(t)
	if err := c.CheckTPM(); err != nil {
		t.Fatalf("key_store: file needs no TPM: %v", err)
	}
	sw := tpmtest.Start(t)
	c.KeyStore, c.TPM = KeyStoreTPM, tpmkey.Settings{Device: sw.Device, Handle: "0x81000001"}
	if err := c.CheckTPM(); err != nil {
		t.Fatal(err)
	}
	c.TPM.Parent = "0x81000005"
	err := c.CheckTPM()
	var e *Error
	if !errors.As(err, &e) || e.Field != "tpm.parent" || !strings.Contains(err.Error(), "no key at 0x81000005") {
		t.Fatalf("CheckTPM = %v", err)
	}
	sw.Stop()
	c.TPM.Parent = ""
	if err := c.CheckTPM(); !errors.As(err, &e) || e.Field != "tpm.device" {
		t.Fatalf("stopped TPM: %v", err)
	}
}
