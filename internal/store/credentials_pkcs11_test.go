package store

import (
	"os"
	"strings"
	"testing"
)

// A key in a PKCS #11 token is named by its URI, not a file: the handoff
// needs privateKeyUri instead of privateKeyFile, and reads back with its
// token fields; without the URI the error names the field.
func TestCredentialsOfATokenKey(t *testing.T) {
	d, c, _ := provisioned(t)
	c.PrivateKeyFile = ""
	c.PrivateKeyType = PrivateKeyPKCS11
	c.PKCS11Module = "/usr/lib/softhsm/libsofthsm2.so"
	c.PKCS11TokenLabel = "provisiond"
	c.PKCS11KeyLabel = "provisiond-1"
	c.PKCS11PinFile = "/etc/provisiond/pin"
	if err := WriteCredentials(d, c); err == nil || !strings.Contains(err.Error(), "privateKeyUri: missing") {
		t.Fatalf("WriteCredentials without a URI = %v, want privateKeyUri named", err)
	}
	c.PrivateKeyURI = "pkcs11:token=provisiond;object=provisiond-1;type=private"
	if err := WriteCredentials(d, c); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(d.Path(CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"privateKeyFile"`) {
		t.Errorf("credentials.json names a key file for a token key:\n%s", data)
	}
	got, err := ReadCredentials(d.Path(CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(c) {
		t.Fatalf("read %+v, wrote %+v", got, c)
	}
	other := c
	other.PKCS11KeyLabel = "provisiond-2"
	if other.Equal(c) {
		t.Error("Equal ignores the key's label")
	}
}

// The key's record in state.json: a file for a file or TPM key, as
// before (keyFile), an id and label for a token's.
func TestStateKeyRefRoundTrip(t *testing.T) {
	m := NewMemory()
	want := State{Version: StateVersion, Phase: Unprovisioned, Identity: 2,
		KeyRef:        KeyRef{KeyID: "0a1b2c", KeyLabel: "provisiond identities/2"},
		HandedOver:    1,
		HandedOverKey: KeyRef{KeyFile: "identities/1/private.key"},
		Renewal:       RenewalRotation}
	if err := SaveState(m, want); err != nil {
		t.Fatal(err)
	}
	data, _ := m.Read(StateFile)
	for _, field := range []string{`"keyId": "0a1b2c"`, `"keyLabel": "provisiond identities/2"`, `"handedOverKey": {`, `"keyFile": "identities/1/private.key"`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("state.json lacks %s:\n%s", field, data)
		}
	}
	got, err := LoadState(m)
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyRef != want.KeyRef || got.HandedOverKey != want.HandedOverKey || got.Renewal != RenewalRotation {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
}
