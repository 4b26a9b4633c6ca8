package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/smallfile"
)

// Dir is a Files kept in a real folder.
type Dir struct {
	root string
	// mu serialises recreating the folder (writes may run in parallel), and
	// guards lock.
	mu sync.Mutex
	// lock, when the Dir was opened with OpenDirLocked, is the hold on the
	// folder; a folder recreated after its removal is locked again.
	lock *DirLock
}

// OpenDir opens the folder at path as a store, creating it (0750) if needed.
// Temp files left by an interrupted write are removed. It does not prove the
// folder writable: the state machine calls Probe before it says READY, and
// one probe per start is enough. One process owns a Dir at a time.
func OpenDir(path string) (*Dir, error) {
	return open(path, false)
}

// OpenDirLocked is OpenDir for the one process that may write the folder
// (the daemon): it takes the folder's lock first, before removing temp
// files that could be another writer's write in flight, and fails with
// ErrInUse if another process holds it. The lock is kept until Close, and
// taken again on a folder the store recreates after its removal, so that a
// second daemon cannot start on the new folder either.
func OpenDirLocked(path string) (*Dir, error) {
	return open(path, true)
}

func open(path string, locked bool) (*Dir, error) {
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", path, err)
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", root, err)
	}
	d := &Dir{root: root}
	if locked {
		if d.lock, err = LockDir(root); err != nil {
			return nil, err
		}
	}
	if err := removeStaleTemps(root); err != nil {
		d.lock.Release()
		return nil, fmt.Errorf("state directory %s: %w", root, err)
	}
	return d, nil
}

// Close releases the folder's lock, if the Dir holds one.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.lock.Release()
	d.lock = nil
	return err
}

// Probe writes and removes a small file in the folder, with no fsync.
func (d *Dir) Probe() error {
	probe, err := os.CreateTemp(d.root, ".probe-*")
	if err != nil {
		return fmt.Errorf("state directory %s is not writable: %w", d.root, err)
	}
	name := probe.Name()
	_, werr := probe.Write([]byte("ok"))
	cerr := probe.Close()
	os.Remove(name)
	if werr != nil || cerr != nil {
		return fmt.Errorf("state directory %s is not writable: %w", d.root, firstErr(werr, cerr))
	}
	return nil
}

// removeStaleTemps deletes temp files left by a write that was killed
// before its rename; they were never visible under their real name, and
// may hold a copy of a private key.
func removeStaleTemps(root string) error {
	return filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && atomicfile.IsTempName(e.Name()) {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		return nil
	})
}

// Path returns the absolute path of name inside the folder; Path("") is
// the folder itself.
func (d *Dir) Path(name string) string {
	return filepath.Join(d.root, filepath.FromSlash(name))
}

// Read returns the content of name, at most MaxFileSize bytes.
func (d *Dir) Read(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return smallfile.Read(d.Path(name), MaxFileSize)
}

// Write atomically replaces name, creating its parent folders (0750), and
// the folder itself if it was removed since OpenDir, so that a daemon whose
// state directory was deleted can write its state again.
func (d *Dir) Write(name string, data []byte, perm fs.FileMode) error {
	if err := checkName(name); err != nil {
		return err
	}
	p := d.Path(name)
	if err := d.recreateRoot(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := mkdirs(d.root, filepath.Dir(p)); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return atomicfile.Write(p, data, perm)
}

// recreateRoot creates the folder (0750) if it no longer exists. A Dir that
// holds a lock locks the new folder, and checks at each write that the folder
// is still the one it holds: one that another process recreated and locked
// is not shared (ErrInUse).
func (d *Dir) recreateRoot() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := os.Stat(d.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(d.root, 0o750); err != nil {
			return fmt.Errorf("recreate the state directory: %w", err)
		}
		if err := d.relock(); err != nil {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(d.root))
	case err != nil:
		return nil // a problem the write itself will report
	case d.lock != nil && !d.lock.holds(fi):
		return d.relock()
	}
	return nil
}

// relock moves a held lock to the folder now at the root.
func (d *Dir) relock() error {
	if d.lock == nil {
		return nil
	}
	lock, err := LockDir(d.root)
	if err != nil {
		return err
	}
	d.lock.Release() // the hold on the removed folder
	d.lock = lock
	return nil
}

// Remove deletes name and makes the removal durable; a missing name is not
// an error.
func (d *Dir) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	p := d.Path(name)
	if err := os.Remove(p); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if err := atomicfile.SyncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("remove %s: sync folder: %w", p, err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
