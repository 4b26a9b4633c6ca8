package store

import (
	"fmt"
	"io/fs"
)

// Files is the tiny store: named blobs, each replaced atomically. Names are
// slash-separated and relative and may have subfolders (for example
// "identities/3/private.key"); Write creates parent folders (0750).
// Dir and Memory pass one shared test suite.
type Files interface {
	// Read returns the whole blob; errors.Is(err, fs.ErrNotExist) when it is missing.
	Read(name string) ([]byte, error)
	// Write replaces the blob atomically: a reader sees the old content or
	// the new, never a mix, even across a power cut.
	Write(name string, data []byte, perm fs.FileMode) error
	// Remove deletes the blob; a missing one is not an error.
	Remove(name string) error
	// Path is the absolute path of the blob (Memory: "/memory/"+name).
	Path(name string) string
	// Probe proves the store writable without a durable write, and leaves
	// nothing behind: a daemon says READY only once it knows it can save.
	Probe() error
}

// MaxFileSize bounds every file the state folder holds: state.json, the
// identities' PEM files, credentials.json and the request files are a few
// KiB, so a larger one is not the daemon's, and reading it would cost the
// memory it holds.
const MaxFileSize = 1 << 20

// checkName rejects names that could escape the store or name the store
// itself: absolute paths, "..", empty elements and ".".
func checkName(name string) error {
	if name == "." || !fs.ValidPath(name) {
		return fmt.Errorf("store: invalid file name %q: want a relative slash-separated path without \"..\"", name)
	}
	return nil
}
