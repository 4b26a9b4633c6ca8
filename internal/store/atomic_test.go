package store

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

func TestWriteFileAtomicFailureKeepsOldFileAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteFileAtomic(path, []byte("old"), 0o600); err != nil {
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

	err := WriteFileAtomic(path, []byte("new content"), 0o600)
	if !errors.Is(err, crash) {
		t.Fatalf("WriteFileAtomic = %v, want the injected failure", err)
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

func TestWriteFileAtomicRenameFailureCleansUp(t *testing.T) {
	dir := t.TempDir()
	// A folder in the way makes the rename fail.
	target := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(target, "inner"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(target, []byte("x"), 0o600); err == nil {
		t.Fatal("WriteFileAtomic over a folder = nil, want an error")
	}
	if names := listDir(t, dir); len(names) != 1 || names[0] != "busy" {
		t.Errorf("folder holds %q, want only busy", names)
	}
}

func TestWriteFileAtomicMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "file")
	err := WriteFileAtomic(path, []byte("x"), 0o600)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFileAtomic = %v, want a not-exist error naming %s", err, path)
	}
}

func TestWriteFileAtomicPermIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "credentials.json")
	for _, perm := range []fs.FileMode{0o644, 0o640, 0o600} {
		if err := WriteFileAtomic(path, []byte("x"), perm); err != nil {
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

func TestOpenDirCreatesFolder(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	d, err := OpenDir("var/lib/provisiond")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(base, "var/lib/provisiond")
	if got := d.Path(""); got != want {
		t.Errorf("Path(\"\") = %q, want %q", got, want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Errorf("mode = %v, want a 0750 folder", fi.Mode())
	}
	if names := listDir(t, want); len(names) != 0 {
		t.Errorf("OpenDir left %q behind", names)
	}
}

func TestOpenDirOnFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenDir(file) = %v, want an error naming %s", err, path)
	}
}

func TestDirWriteCreatesParents0750(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write("identities/7/private.key", []byte("k"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"identities", "identities/7"} {
		fi, err := os.Stat(d.Path(dir))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o750 {
			t.Errorf("%s: perm = %v, want 0750", dir, fi.Mode().Perm())
		}
	}
}

func TestMemoryWriteHookKeepsOldContent(t *testing.T) {
	m := NewMemory()
	mustWrite(t, m, "state.json", []byte("old"), 0o600)
	full := errors.New("no space left on device")
	m.SetWriteHook(func(name string, _ []byte) error {
		if name == "state.json" {
			return full
		}
		return nil
	})
	if err := m.Write("state.json", []byte("new"), 0o600); !errors.Is(err, full) {
		t.Fatalf("Write = %v, want the hook's error", err)
	}
	mustWrite(t, m, "other", []byte("x"), 0o600)
	if got := mustRead(t, m, "state.json"); string(got) != "old" {
		t.Fatalf("Read = %q, want %q", got, "old")
	}
	m.SetWriteHook(nil)
	mustWrite(t, m, "state.json", []byte("new"), 0o600)
	if got := m.Names(); strings.Join(got, ",") != "other,state.json" {
		t.Fatalf("Names = %q", got)
	}
}
