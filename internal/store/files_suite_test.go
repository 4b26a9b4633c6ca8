package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// permOf reports the permission bits a store gave name.
type permOf func(f Files, name string) (fs.FileMode, error)

// testFilesSemantics is the one suite every Files implementation passes.
func testFilesSemantics(t *testing.T, open func(t *testing.T) Files, perm permOf) {
	t.Run("ReadMissing", func(t *testing.T) {
		f := open(t)
		_, err := f.Read("nothing")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Read(missing) = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("ProbeLeavesNothing", func(t *testing.T) {
		f := open(t)
		if err := f.Probe(); err != nil {
			t.Fatalf("Probe = %v", err)
		}
		if _, err := f.Read(".probe"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Probe left a file behind: %v", err)
		}
	})
	t.Run("WriteRead", func(t *testing.T) {
		f := open(t)
		want := []byte("hello\x00\xffworld")
		mustWrite(t, f, "a", want, 0o600)
		if got := mustRead(t, f, "a"); !bytes.Equal(got, want) {
			t.Fatalf("Read = %q, want %q", got, want)
		}
	})
	t.Run("WriteEmpty", func(t *testing.T) {
		f := open(t)
		mustWrite(t, f, "empty", nil, 0o600)
		if got := mustRead(t, f, "empty"); len(got) != 0 {
			t.Fatalf("Read = %q, want empty", got)
		}
	})
	t.Run("OverwriteShorter", func(t *testing.T) {
		f := open(t)
		mustWrite(t, f, "a", []byte("a long first version"), 0o600)
		mustWrite(t, f, "a", []byte("short"), 0o600)
		if got := mustRead(t, f, "a"); string(got) != "short" {
			t.Fatalf("Read = %q, want %q", got, "short")
		}
	})
	t.Run("NoAliasing", func(t *testing.T) {
		f := open(t)
		data := []byte("original")
		mustWrite(t, f, "a", data, 0o600)
		data[0] = 'X'
		got := mustRead(t, f, "a")
		got[1] = 'Y'
		if again := mustRead(t, f, "a"); string(again) != "original" {
			t.Fatalf("Read = %q after mutating buffers, want %q", again, "original")
		}
	})
	t.Run("Subfolders", func(t *testing.T) {
		f := open(t)
		mustWrite(t, f, "identities/3/private.key", []byte("k"), 0o600)
		mustWrite(t, f, "identities/3/certificate.pem", []byte("c"), 0o644)
		mustWrite(t, f, "identities/4/private.key", []byte("k4"), 0o600)
		if got := mustRead(t, f, "identities/3/private.key"); string(got) != "k" {
			t.Fatalf("Read = %q, want %q", got, "k")
		}
		if got := mustRead(t, f, "identities/4/private.key"); string(got) != "k4" {
			t.Fatalf("Read = %q, want %q", got, "k4")
		}
	})
	t.Run("Permissions", func(t *testing.T) {
		f := open(t)
		for _, tc := range []struct {
			name string
			perm fs.FileMode
		}{{"state.json", 0o600}, {"id/private.key", 0o640}, {"credentials.json", 0o644}} {
			mustWrite(t, f, tc.name, []byte("x"), tc.perm)
			got, err := perm(f, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.perm {
				t.Errorf("%s: perm = %v, want %v", tc.name, got, tc.perm)
			}
		}
		// Rewriting with other bits changes them: the caller's perm always wins.
		mustWrite(t, f, "id/private.key", []byte("y"), 0o600)
		if got, _ := perm(f, "id/private.key"); got != 0o600 {
			t.Errorf("after rewrite: perm = %v, want 0600", got)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		f := open(t)
		mustWrite(t, f, "a/b", []byte("x"), 0o600)
		for i := 0; i < 2; i++ {
			if err := f.Remove("a/b"); err != nil {
				t.Fatalf("Remove #%d: %v", i+1, err)
			}
		}
		if _, err := f.Read("a/b"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Read after Remove = %v, want fs.ErrNotExist", err)
		}
		if err := f.Remove("never/was"); err != nil {
			t.Fatalf("Remove(missing) = %v, want nil", err)
		}
	})
	t.Run("RemoveNonEmptyFolder", func(t *testing.T) {
		f := open(t)
		mustWrite(t, f, "a/b", []byte("x"), 0o600)
		if err := f.Remove("a"); err == nil {
			t.Fatal("Remove(folder with files) = nil, want an error")
		}
		if got := mustRead(t, f, "a/b"); string(got) != "x" {
			t.Fatalf("Read = %q, want %q", got, "x")
		}
	})
	t.Run("FileFolderConflict", func(t *testing.T) {
		f := open(t)
		mustWrite(t, f, "a", []byte("file"), 0o600)
		if err := f.Write("a/b", []byte("x"), 0o600); err == nil {
			t.Fatal("Write(a/b) with a file at a = nil, want an error")
		}
		mustWrite(t, f, "c/d", []byte("x"), 0o600)
		if err := f.Write("c", []byte("x"), 0o600); err == nil {
			t.Fatal("Write(c) with a folder at c = nil, want an error")
		}
		if got := mustRead(t, f, "a"); string(got) != "file" {
			t.Fatalf("Read(a) = %q, want %q", got, "file")
		}
	})
	t.Run("InvalidNames", func(t *testing.T) {
		f := open(t)
		for _, name := range []string{"", ".", "/etc/passwd", "../escape", "a/../../b", "a//b", "a/", "./a"} {
			if _, err := f.Read(name); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Read(%q) = %v, want an invalid-name error", name, err)
			}
			if err := f.Write(name, []byte("x"), 0o600); err == nil {
				t.Errorf("Write(%q) = nil, want an error", name)
			}
			if err := f.Remove(name); err == nil {
				t.Errorf("Remove(%q) = nil, want an error", name)
			}
		}
	})
	t.Run("Path", func(t *testing.T) {
		f := open(t)
		p := f.Path("identities/3/private.key")
		if !filepath.IsAbs(p) {
			t.Errorf("Path = %q, want absolute", p)
		}
		if !strings.HasSuffix(p, filepath.FromSlash("/identities/3/private.key")) {
			t.Errorf("Path = %q, want it to end with the name", p)
		}
		if f.Path("a") == f.Path("b") {
			t.Errorf("Path(a) == Path(b) == %q", f.Path("a"))
		}
	})
	t.Run("ConcurrentReadersSeeWholeVersions", func(t *testing.T) {
		f := open(t)
		versions := [][]byte{bytes.Repeat([]byte("A"), 4096), bytes.Repeat([]byte("B"), 1000)}
		mustWrite(t, f, "x", versions[0], 0o600)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					if err := f.Write("x", versions[(w+i)%2], 0o600); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				got, err := f.Read("x")
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					errs <- errors.New("read a mix of two versions")
					return
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func mustWrite(t *testing.T, f Files, name string, data []byte, perm fs.FileMode) {
	t.Helper()
	if err := f.Write(name, data, perm); err != nil {
		t.Fatalf("Write(%q): %v", name, err)
	}
}

func mustRead(t *testing.T, f Files, name string) []byte {
	t.Helper()
	data, err := f.Read(name)
	if err != nil {
		t.Fatalf("Read(%q): %v", name, err)
	}
	return data
}

func openTestDir(t *testing.T) Files {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dirPerm(f Files, name string) (fs.FileMode, error) {
	fi, err := os.Stat(f.Path(name))
	if err != nil {
		return 0, err
	}
	return fi.Mode().Perm(), nil
}

func memPerm(f Files, name string) (fs.FileMode, error) { return f.(*Memory).Perm(name) }

func TestDirSemantics(t *testing.T) {
	testFilesSemantics(t, openTestDir, dirPerm)
}

func TestMemorySemantics(t *testing.T) {
	testFilesSemantics(t, func(*testing.T) Files { return NewMemory() }, memPerm)
}
