package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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
