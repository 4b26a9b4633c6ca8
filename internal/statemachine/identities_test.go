package statemachine

import (
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/store"
)

// A key saved just before a crash, before the state recorded it, is not
// left on disk forever: nothing names it, so its number is reused. When
// credentials.json cannot be read, nobody can tell, and the number is
// skipped instead.
func TestUnnamedIdentityFilesAreCleaned(t *testing.T) {
	for _, tc := range []struct {
		name     string
		creds    string // "" for none
		identity int
	}{
		{"no credentials.json", "", 1},
		{"unreadable credentials.json", `{"thingName":`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, MethodCSR, autoClock)
			stray := []byte("stray key nobody names")
			if err := h.files.Write(store.IdentityFile(1, store.KeyFileName), stray, keystore.KeyFileMode); err != nil {
				t.Fatal(err)
			}
			if tc.creds != "" {
				if err := h.files.Write(store.CredentialsFile, []byte(tc.creds), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			st := h.provision(registeredAs(""))
			if st.Identity != tc.identity {
				t.Errorf("identity %d, want %d", st.Identity, tc.identity)
			}
			// Either way, once the new credentials.json names the new
			// identity, nothing names the stray key.
			for _, name := range h.files.Names() {
				if data, _ := h.files.Read(name); string(data) == string(stray) {
					t.Errorf("the stray key is still in %s", name)
				}
			}
		})
	}
}
