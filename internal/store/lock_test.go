//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLockDirIsExclusiveUntilReleased(t *testing.T) {
	dir := t.TempDir()
	if used, err := InUse(dir); err != nil || used {
		t.Fatalf("InUse before locking = %v, %v", used, err)
	}
	first, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockDir(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second LockDir = %v, want ErrInUse", err)
	}
	if used, err := InUse(dir); err != nil || !used {
		t.Fatalf("InUse while locked = %v, %v", used, err)
	}
	// InUse's own probe must not take the lock from the holder.
	if _, err := LockDir(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("LockDir after InUse = %v, want ErrInUse", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after Release: %v", err)
	}
	defer second.Release()
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 0 {
		t.Errorf("locking left files behind: %v", names)
	}
}

func TestInUseOfAMissingFolder(t *testing.T) {
	if used, err := InUse(filepath.Join(t.TempDir(), "nope")); err != nil || used {
		t.Fatalf("InUse = %v, %v", used, err)
	}
}

// A locked store whose folder is removed and recreated holds the new
// folder's lock too; if another process took the new folder first, the
// write says so instead of sharing it.
func TestLockedDirRelocksARecreatedFolder(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	d, err := OpenDirLocked(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := OpenDirLocked(root); !errors.Is(err, ErrInUse) {
		t.Fatalf("second OpenDirLocked = %v, want ErrInUse", err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(StateFile, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LockDir(root); !errors.Is(err, ErrInUse) {
		t.Fatalf("LockDir on the recreated folder = %v, want ErrInUse", err)
	}

	// Another process recreates and locks the folder before this store does.
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	other, err := OpenDirLocked(root)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := d.Write(StateFile, []byte("{}"), 0o600); !errors.Is(err, ErrInUse) {
		t.Fatalf("write into a folder another store holds = %v, want ErrInUse", err)
	}
}
