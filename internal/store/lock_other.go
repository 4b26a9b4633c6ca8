//go:build !unix

package store

import "errors"

// ErrInUse says another process holds a state directory's lock.
var ErrInUse = errors.New("in use by another provisiond")

// DirLock does nothing where flock is missing.
type DirLock struct{}

// LockDir cannot lock here; it always succeeds.
func LockDir(string) (*DirLock, error) { return &DirLock{}, nil }

// Release does nothing.
func (*DirLock) Release() error { return nil }

// InUse cannot tell here; it reports false.
func InUse(string) (bool, error) { return false, nil }
