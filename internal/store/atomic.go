package store

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// hookBeforeRename, when set by a test, runs after the temp file is written
// and synced and before it replaces the target: a named crash point.
var hookBeforeRename func(tmp string) error

// WriteFileAtomic replaces the file at path with data so that, even across a
// power cut, the path holds either the old content or the new one. It writes
// a temp file in the same folder, syncs it, renames it over the target and
// syncs the folder. The temp file is removed on any failure. The file gets
// exactly perm, whatever the umask.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
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
	if err := syncDir(dir); err != nil {
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

// syncDir makes the folder's entries (a rename, a new file, a removal) durable.
func syncDir(dir string) error {
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

// mkdirs creates the folders from root down to dir (0750), syncing the
// parent of each one it creates so that the new entry survives a power cut.
// root must exist and dir must be inside it.
func mkdirs(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return err
	}
	if rel == "." {
		return nil
	}
	cur := root
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		parent := cur
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o750)
		switch {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return err
			}
		case os.IsExist(err):
			if fi, serr := os.Stat(cur); serr != nil || !fi.IsDir() {
				return fmt.Errorf("mkdir %s: exists and is not a folder", cur)
			}
		default:
			return err
		}
	}
	return nil
}
