package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/provisiond/provisiond/internal/atomicfile"
)

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
			if err := atomicfile.SyncDir(parent); err != nil {
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
