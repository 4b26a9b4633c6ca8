package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

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
