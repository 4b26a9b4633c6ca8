package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/store"
)

// status exits 65 only for a corrupt state file; a state file it cannot
// read is an ordinary failure, which moving the file aside would not mend.
func TestStatusExitCodeForUnreadableState(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(path string) error
		want  int
	}{
		{"corrupt", func(path string) error { return os.WriteFile(path, []byte("{bad"), 0o600) }, exitDataErr},
		{"unreadable", func(path string) error { return os.Mkdir(path, 0o700) }, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.yaml")
			body := "endpoint: localhost\nroot_ca: ca.pem\nclaim: {certificate: c.pem, private_key: k.pem}\n" +
				"template: {name: T}\nstate_directory: state\n"
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, "state"), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(filepath.Join(dir, "state", store.StateFile)); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := runCLI([]string{"status", "--config", cfg}, &out, &errOut); code != tc.want {
				t.Fatalf("status exit %d, want %d; stderr: %s", code, tc.want, errOut.String())
			}
			if errOut.Len() == 0 {
				t.Fatal("no reason on stderr")
			}
		})
	}
}

// status --json reports the failure record structured beside lastError,
// and the token's expiry as the state machine computes it.
func TestStatusJSONFailureRecord(t *testing.T) {
	issued := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	st := store.State{Version: store.StateVersion, Phase: store.CertPending, Identity: 1,
		CertificateID: "abc", TokenIssuedAt: issued, Attempts: 2,
		LastError: "RegisterThing: 503 InternalFailure", LastOperation: "RegisterThing", LastErrorKind: "transient",
		NextAttemptAt: issued.Add(time.Minute)}
	data, err := json.Marshal(newStatusReport(st, issued))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"state": "cert-pending", "lastError": "RegisterThing: 503 InternalFailure",
		"lastOperation": "RegisterThing", "lastErrorKind": "transient",
		"lastStep":       "", // a service's rejection: its code and message are in lastError
		"tokenExpiresAt": "2026-11-26T13:00:00Z", "attempts": float64(2),
		"status": "cert-pending: RegisterThing retry 2 in 1m (503 InternalFailure)",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["waiting"]; ok {
		t.Error("the free-text waiting field is still reported")
	}
}
