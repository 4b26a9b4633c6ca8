package store

import (
	"os"
	"path/filepath"
	"testing"
)

// Removing the state directory while the daemon runs must not stop it from
// writing its state again.
func TestDirWriteRecreatesARemovedFolder(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := d.Write("identities/1/certificate.pem", []byte("cert"), 0o644); err != nil {
		t.Fatalf("write after the folder was removed: %v", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o750 {
		t.Errorf("recreated folder mode %o, want 750", perm)
	}
	if got, err := d.Read("identities/1/certificate.pem"); err != nil || string(got) != "cert" {
		t.Errorf("read back %q, %v", got, err)
	}
}
