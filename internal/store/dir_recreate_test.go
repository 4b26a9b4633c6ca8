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

func TestIsTempName(t *testing.T) {
	dir := t.TempDir()
	// The names an atomic write really uses.
	f, err := os.CreateTemp(dir, ".credentials.json.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for name, want := range map[string]bool{
		f.Name():                       true,
		".state.json.tmp-123":          true,
		"/var/lib/x/.a.tmp-42":         true,
		"credentials.json":             false,
		".credentials.json":            false,
		"credentials.json.tmp-1":       false,
		".credentials.json.tmp-":       false,
		"identities/1/private.key":     false,
		".private.key.tmp-9/child.pem": false,
	} {
		if got := IsTempName(name); got != want {
			t.Errorf("IsTempName(%q) = %v, want %v", name, got, want)
		}
	}
}
