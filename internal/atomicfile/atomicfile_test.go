package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// listDir returns the names in dir, to spot leftover temp files.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFailureKeepsOldFileAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("power cut")
	var sawTemp bool
	hookBeforeRename = func(tmp string) error {
		// At the crash point the new content is complete in the temp file
		// and the target still holds the old one.
		if got, _ := os.ReadFile(tmp); string(got) == "new content" {
			sawTemp = true
		}
		if got, _ := os.ReadFile(path); string(got) != "old" {
			t.Errorf("target before rename = %q, want %q", got, "old")
		}
		return crash
	}
	defer func() { hookBeforeRename = nil }()

	err := Write(path, []byte("new content"), 0o600)
	if !errors.Is(err, crash) {
		t.Fatalf("Write = %v, want the injected failure", err)
	}
	if !sawTemp {
		t.Error("the temp file did not hold the full new content before the rename")
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("after failed write: %q, want %q", got, "old")
	}
	if names := listDir(t, dir); len(names) != 1 || names[0] != "state.json" {
		t.Errorf("folder holds %q, want only state.json", names)
	}
}

func TestWriteRenameFailureCleansUp(t *testing.T) {
	dir := t.TempDir()
	// A folder in the way makes the rename fail.
	target := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(target, "inner"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, []byte("x"), 0o600); err == nil {
		t.Fatal("Write over a folder = nil, want an error")
	}
	if names := listDir(t, dir); len(names) != 1 || names[0] != "busy" {
		t.Errorf("folder holds %q, want only busy", names)
	}
}

func TestWriteMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "file")
	err := Write(path, []byte("x"), 0o600)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write = %v, want a not-exist error naming %s", err, path)
	}
}

func TestWritePermIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "credentials.json")
	for _, perm := range []fs.FileMode{0o644, 0o640, 0o600} {
		if err := Write(path, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("perm = %v, want %v", fi.Mode().Perm(), perm)
		}
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
