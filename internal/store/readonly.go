package store

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/provisiond/provisiond/internal/smallfile"
)

// ReadOnlyDir lets a command read the daemon's state folder without being
// able to change it (and without its lock).
type ReadOnlyDir string

var _ Files = ReadOnlyDir("")

var errReadOnly = errors.New("the state directory is read-only for this command")

func (d ReadOnlyDir) Read(name string) ([]byte, error) {
	return smallfile.Read(d.Path(name), MaxFileSize)
}
func (d ReadOnlyDir) Path(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(name))
}
func (d ReadOnlyDir) Write(string, []byte, fs.FileMode) error {
	return errReadOnly
}
func (d ReadOnlyDir) Remove(string) error { return errReadOnly }
func (d ReadOnlyDir) Probe() error        { return errReadOnly }
