// Package crashstate explores the on-disk states a power cut can leave while
// the real provisiond binary provisions, and checks that the daemon recovers
// from every one of them. It records the daemon's file-system calls with
// strace (so nothing the binary does can bypass the recording), builds the
// crash states two file-system models allow (ext4 data=ordered and a
// stricter POSIX minimum), and starts the real daemon on each against the
// real fleetsim emulator. It drives whatever binaries it is given, so it
// explores the code that ships; of the daemon's packages it imports only
// internal/store, for the state directory's file names, and beside it
// internal/attest, whose example template the attestation flow's hook
// verifies (deptest holds it).
package crashstate

import (
	"fmt"
	"strings"
)

// Kind is a file-system operation as the recorder sees it.
type Kind int

// The operations that change what a power cut can leave.
const (
	Create   Kind = iota // a new directory entry for a new file
	Mkdir                // a new directory
	Write                // bytes at an offset of a file
	Truncate             // a file cut to Size
	Rename               // Path moved to Path2, replacing Path2
	Unlink               // a file's entry removed
	Rmdir                // a directory removed
	Fsync                // a file's data and size made durable (fsync or fdatasync)
	FsyncDir             // a directory's entries made durable
)

var kindNames = [...]string{"create", "mkdir", "write", "truncate", "rename", "unlink", "rmdir", "fsync", "fsync-dir"}

func (k Kind) String() string { return kindNames[k] }

// Op is one recorded operation. Paths are relative to the state directory
// ("" is the directory itself); Ino names the file a write, truncate or
// fsync acts on, stable across renames.
type Op struct {
	Kind  Kind
	Path  string
	Path2 string
	Ino   int
	Off   int64
	Data  []byte
	Size  int64
	// Replaces says a rename replaced an existing file (ext4 then flushes
	// the renamed file's data first: auto_da_alloc).
	Replaces bool
}

// metadata reports whether the op changes a directory (or an inode's size)
// rather than a file's bytes.
func (o Op) metadata() bool {
	switch o.Kind {
	case Create, Mkdir, Rename, Unlink, Rmdir, Truncate:
		return true
	}
	return false
}

func (o Op) String() string {
	switch o.Kind {
	case Write:
		return fmt.Sprintf("write %s#%d off=%d len=%d", o.Path, o.Ino, o.Off, len(o.Data))
	case Truncate:
		return fmt.Sprintf("truncate %s#%d size=%d", o.Path, o.Ino, o.Size)
	case Rename:
		return fmt.Sprintf("rename %s -> %s", o.Path, o.Path2)
	case Fsync:
		return fmt.Sprintf("fsync %s#%d", o.Path, o.Ino)
	case FsyncDir:
		return fmt.Sprintf("fsync-dir %s/", o.Path)
	}
	return o.Kind.String() + " " + o.Path
}

// parentDir is the directory holding path ("" for the state directory).
func parentDir(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return ""
}
