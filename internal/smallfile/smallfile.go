// Package smallfile reads the daemon's own small files (the config, state.json,
// credentials.json, ${file:PATH} placeholders) as regular files within a size
// bound. A FIFO, a device or a folder is refused instead of hanging the reader,
// and a file beyond the bound is refused instead of filling the memory; both
// errors name the path.
package smallfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrNotRegular is a path naming a FIFO, a device, a socket or a folder.
var ErrNotRegular = errors.New("not a regular file")

// TooLargeError is a file beyond the bound its reader sets.
type TooLargeError struct{ Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("larger than %s, which no such file needs", size(e.Max))
}

// Read returns the content of the regular file at path, refusing one larger than
// max bytes. Errors are *os.PathError: a missing file matches fs.ErrNotExist,
// a FIFO ErrNotRegular, an oversized file a *TooLargeError.
func Read(path string, max int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO does not wait for a writer; for a regular
	// file it changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
	}
	if fi.Size() > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: &TooLargeError{Max: max}}
	}
	// The file may grow after Stat: read one byte past the bound to see it.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: &TooLargeError{Max: max}}
	}
	return data, nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
