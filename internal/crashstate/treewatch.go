package crashstate

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// treeWatch tells of every change in a folder and its subfolders, those
// made later included: the checks wait on the daemon's writes, not on a
// timer.
type treeWatch struct {
	// C receives a signal after changes; signals that are not taken yet
	// merge into one.
	C    <-chan struct{}
	fsw  *fsnotify.Watcher
	done chan struct{}
}

// watchTree watches dir, which must exist, and its subfolders.
func watchTree(dir string) (*treeWatch, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := fsw.Add(dir); err != nil {
		fsw.Close()
		return nil, err
	}
	if err := addTree(fsw, dir); err != nil {
		fsw.Close()
		return nil, err
	}
	c := make(chan struct{}, 1)
	w := &treeWatch{C: c, fsw: fsw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case ev, ok := <-fsw.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) {
					// A new subfolder: files may be in it before its watch.
					_ = addTree(fsw, ev.Name)
				}
			case _, ok := <-fsw.Errors:
				if !ok {
					return
				} // lost events: signal, so that the reader reads again
			}
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}()
	return w, nil
}

// addTree watches root and the folders under it; a file or a folder gone
// meanwhile is not one.
func addTree(fsw *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if err := fsw.Add(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// add watches one more folder and its subfolders.
func (w *treeWatch) add(dir string) { _ = addTree(w.fsw, dir) }

// Close stops watching.
func (w *treeWatch) Close() {
	w.fsw.Close()
	<-w.done
}
