// Package atomicfile replaces a file so that, even across a power cut, it
// holds either its old content or the new one. It is a leaf on the standard
// library alone, so that the daemon's store and the emulator's registry
// share one implementation of the durability both depend on.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// hookBeforeRename, when set by a test, runs after the temp file is written
// and synced and before it replaces the target: a named crash point.
var hookBeforeRename func(tmp string) error

// Write replaces the file at path with data so that, even across a
// power cut, the path holds either the old content or the new one. It writes
// a temp file in the same folder, syncs it, renames it over the target and
// syncs the folder. The temp file is removed on any failure. The file gets
// exactly perm, whatever the umask.
func Write(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(path)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("write %s: not a file name", path)
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	if err := writeTemp(f, data, perm); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The new content is in place; what is left is making the rename durable.
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: sync folder: %w", path, err)
	}
	return nil
}

// writeTemp fills, syncs and closes the temp file.
func writeTemp(f *os.File, data []byte, perm fs.FileMode) error {
	if err := f.Chmod(perm.Perm()); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if hookBeforeRename != nil {
		return hookBeforeRename(f.Name())
	}
	return nil
}

// SyncDir makes the folder's entries (a rename, a new file, a removal) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// tempName matches the temp files Write creates (".credentials.json.tmp-123").
var tempName = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// IsTempName reports whether the base name of path is one of the temp files
// Write creates: a write killed before its rename leaves one behind.
func IsTempName(path string) bool {
	return tempName.MatchString(filepath.Base(path))
}
