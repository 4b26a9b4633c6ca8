package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/provisiond/provisiond/internal/store"
)

// readOnlyDir lets the CLI read the daemon's state without being able to change it.
type readOnlyDir string

var _ store.Files = readOnlyDir("")

var errReadOnly = errors.New("the state directory is read-only for this command")

func (d readOnlyDir) Read(name string) ([]byte, error) { return os.ReadFile(d.Path(name)) }
func (d readOnlyDir) Path(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(name))
}
func (d readOnlyDir) Write(string, []byte, fs.FileMode) error {
	return errReadOnly
}
func (d readOnlyDir) Remove(string) error { return errReadOnly }
func (d readOnlyDir) Probe() error        { return errReadOnly }
