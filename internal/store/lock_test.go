//go:build unix

package store

import (
	"errors"
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
