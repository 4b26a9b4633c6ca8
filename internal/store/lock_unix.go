//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrInUse says another process holds a state directory's lock.
var ErrInUse = errors.New("in use by another provisiond")

// DirLock is a hold on a state directory: while a daemon holds it, no
// second daemon can provision into the same folder (a manual `provisiond
// run` beside the service would otherwise race it for the state file and
// the service for certificates).
type DirLock struct{ f *os.File }

// LockDir takes the exclusive lock on the folder at path (flock on the
// folder itself, so that no file is added to it), without waiting.
func LockDir(path string) (*DirLock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s: %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("lock state directory %s: %w", path, err)
	}
	return &DirLock{f: f}, nil
}

// Release gives the lock up; the process ending does too.
func (l *DirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// holds reports whether the lock is on the folder fi describes (and not on
// one removed since).
func (l *DirLock) holds(fi os.FileInfo) bool {
	if l == nil || l.f == nil {
		return false
	}
	mine, err := l.f.Stat()
	return err == nil && os.SameFile(mine, fi)
}

// InUse reports whether a process holds the lock on the folder at path,
// that is, whether a daemon runs with it. A missing folder is not in use.
func InUse(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil // closing f releases the shared lock just taken
}
