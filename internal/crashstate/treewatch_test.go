package crashstate

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A change is signalled in the folder, in a subfolder made later (files
// written in it included), and in a folder added.
func TestTreeWatchSignalsChanges(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	w, err := watchTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	settle := func(what string) {
		t.Helper()
		select {
		case <-w.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("no signal after %s", what)
		}
		for len(w.C) > 0 { // the same burst
			<-w.C
		}
	}
	step := func(what string, do func() error) {
		t.Helper()
		if err := do(); err != nil {
			t.Fatal(err)
		}
		settle(what)
	}
	sub := filepath.Join(dir, "identities", "1")
	step("making a subfolder", func() error { return os.MkdirAll(sub, 0o750) })
	step("writing in the subfolder", func() error { return os.WriteFile(filepath.Join(sub, "private.key"), []byte("k"), 0o600) })
	step("removing a file in the subfolder", func() error { return os.Remove(filepath.Join(sub, "private.key")) })
	w.add(other)
	step("writing in an added folder", func() error { return os.WriteFile(filepath.Join(other, "cert.pem"), []byte("c"), 0o600) })
	if _, err := watchTree(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing folder was watched")
	}
}
