package store

import (
	"errors"
	"io/fs"
	"slices"
	"sync"
)

// Memory is a Files kept in memory, for tests. It behaves like Dir,
// including permissions, and can be told to fail writes to simulate a full
// or broken disk.
type Memory struct {
	mu    sync.Mutex
	files map[string]memFile
	hook  func(name string, data []byte) error
}

type memFile struct {
	data []byte
	perm fs.FileMode
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{files: make(map[string]memFile)}
}

// Path returns "/memory/"+name.
func (m *Memory) Path(name string) string { return "/memory/" + name }

// Read returns a copy of the content of name.
func (m *Memory) Read(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: m.Path(name), Err: fs.ErrNotExist}
	}
	return slices.Clone(f.data), nil
}

// Write replaces name with a copy of data, unless the write hook refuses.
func (m *Memory) Write(name string, data []byte, perm fs.FileMode) error {
	if err := checkName(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hook != nil {
		if err := m.hook(name, data); err != nil {
			return &fs.PathError{Op: "write", Path: m.Path(name), Err: err}
		}
	}
	// Like a real folder, a name cannot be both a file and a folder.
	for other := range m.files {
		if isUnder(other, name) || isUnder(name, other) {
			return &fs.PathError{Op: "write", Path: m.Path(name), Err: fs.ErrExist}
		}
	}
	m.files[name] = memFile{data: slices.Clone(data), perm: perm.Perm()}
	return nil
}

// probeName is what Probe offers the write hook.
const probeName = ".probe"

// Probe asks the write hook, as a write would, and stores nothing.
func (m *Memory) Probe() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hook != nil {
		if err := m.hook(probeName, nil); err != nil {
			return &fs.PathError{Op: "write", Path: m.Path(probeName), Err: err}
		}
	}
	return nil
}

// Remove deletes name; a missing name is not an error.
func (m *Memory) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for other := range m.files {
		if isUnder(other, name) {
			return &fs.PathError{Op: "remove", Path: m.Path(name), Err: errNotEmpty}
		}
	}
	delete(m.files, name)
	return nil
}

// SetWriteHook installs a function called before every Write; when it
// returns an error the write fails and the old content stays. nil removes it.
func (m *Memory) SetWriteHook(hook func(name string, data []byte) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = hook
}

// Names lists the stored names, sorted.
func (m *Memory) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.files))
	for name := range m.files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Perm returns the permission bits name was written with.
func (m *Memory) Perm(name string) (fs.FileMode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		return 0, &fs.PathError{Op: "stat", Path: m.Path(name), Err: fs.ErrNotExist}
	}
	return f.perm, nil
}

var errNotEmpty = errors.New("folder not empty")

// isUnder reports whether name lies inside the folder dir.
func isUnder(name, dir string) bool {
	return len(name) > len(dir) && name[len(dir)] == '/' && name[:len(dir)] == dir
}
