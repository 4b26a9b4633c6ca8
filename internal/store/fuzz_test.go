package store

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzLoadState feeds arbitrary bytes as the state file: LoadState must
// never panic, must report anything it rejects as *CorruptError, and what it
// accepts must save and load again.
func FuzzLoadState(f *testing.F) {
	full, _ := json.Marshal(fullState())
	for _, seed := range []string{
		string(full),
		`{"version":1,"state":"unprovisioned","identity":0,"attempts":0}`,
		`{"version":1,"state":"registered","thingName":"gw","provisionedAt":"2026-11-26T12:00:00Z"}`,
		string(full[:len(full)/2]),
		"",
		"null",
		"[]",
		`{"version":2,"state":"registered"}`,
		`{"version":1,"state":"provisioning"}`,
		`{"version":1e400}`,
		`{"version":1,"state":"cert-pending","tokenIssuedAt":"yesterday"}`,
		`{"version":1,"state":"unprovisioned","keyFile":"../x"}`,
		`{"version":1,"state":"unprovisioned","orphans":[{"at":1}]}`,
		"\xff\xfe{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewMemory()
		if err := m.Write(StateFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := LoadState(m)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadState = %v, want *CorruptError", err)
			}
			return
		}
		if s.Version != StateVersion {
			t.Fatalf("accepted version %d", s.Version)
		}
		if err := SaveState(m, s); err != nil {
			t.Fatalf("SaveState of an accepted state: %v", err)
		}
		again, err := LoadState(m)
		if err != nil {
			t.Fatalf("LoadState after SaveState: %v", err)
		}
		if again.Phase != s.Phase || again.Identity != s.Identity || again.OwnershipToken != s.OwnershipToken {
			t.Fatalf("round trip changed the state: %+v -> %+v", s, again)
		}
	})
}
