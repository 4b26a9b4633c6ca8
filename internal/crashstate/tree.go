package crashstate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Tree is the content of a state directory: files by relative path, and
// directories ("" is the root, always there).
type Tree struct {
	Files map[string][]byte
	Dirs  map[string]bool
}

func newTree() *Tree { return &Tree{Files: map[string][]byte{}, Dirs: map[string]bool{"": true}} }

// ReadTree reads a directory into a Tree.
func ReadTree(root string) (*Tree, error) {
	t := newTree()
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			t.Dirs[rel] = true
			return nil
		}
		data, err := os.ReadFile(p)
		t.Files[rel] = data
		return err
	})
	return t, err
}

func (t *Tree) sortedFiles() []string { return sortedKeys(t.Files) }

func (t *Tree) sortedDirs() []string { return sortedKeys(t.Dirs) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// WriteTo creates the tree under root, replacing old by new in every
// file's bytes (paths the daemon wrote into credentials.json); old and new
// have the same length, so every cut stays where the model put it.
func (t *Tree) WriteTo(root string, old, new []string) error {
	for _, d := range t.sortedDirs() {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			return err
		}
	}
	for _, n := range t.sortedFiles() {
		data := t.Files[n]
		for i := range old {
			data = bytes.ReplaceAll(data, []byte(old[i]), []byte(new[i]))
		}
		if err := os.WriteFile(filepath.Join(root, n), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// digest identifies the tree's content.
func (t *Tree) digest() string {
	h := sha256.New()
	for _, d := range t.sortedDirs() {
		h.Write([]byte("d " + d + "\x00"))
	}
	for _, n := range t.sortedFiles() {
		h.Write([]byte("f " + n + "\x00"))
		h.Write(t.Files[n])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
