package crashstate

import (
	"path/filepath"
	"strconv"
	"strings"
)

// opBuilder turns the trace's calls into Ops under one directory, keeping
// the names, inode numbers and file offsets the calls imply.
type opBuilder struct {
	root    string
	names   map[string]int // relative path → inode
	dirs    map[string]bool
	offsets map[string]int64 // "fd path" → offset of an open file
	nextIno int
	ops     []Op
}

func newOpBuilder(root string, initial *Tree) *opBuilder {
	b := &opBuilder{root: filepath.Clean(root), names: map[string]int{}, dirs: map[string]bool{"": true},
		offsets: map[string]int64{}}
	for d := range initial.Dirs {
		b.dirs[d] = true
	}
	for _, name := range initial.sortedFiles() {
		b.nextIno++
		b.names[name] = b.nextIno
	}
	return b
}

// rel returns p relative to the root, or false when p is outside it.
func (b *opBuilder) rel(p string) (string, bool) {
	p = strings.TrimSuffix(p, " (deleted)")
	if p == b.root {
		return "", true
	}
	r, ok := strings.CutPrefix(p, b.root+"/")
	return r, ok
}

func (b *opBuilder) add(c call) {
	if c.ret < 0 {
		return // a failed call changed nothing
	}
	a := c.args
	switch c.name {
	case "openat", "open", "creat":
		var p, flags string
		switch {
		case c.name == "openat" && len(a) >= 3:
			p, flags = atPath(a[0], a[1]), a[2]
		case c.name == "open" && len(a) >= 2:
			p, flags = atPath("", a[0]), a[1]
		case c.name == "creat" && len(a) >= 1:
			p, flags = atPath("", a[0]), "O_CREAT|O_TRUNC"
		default:
			return
		}
		r, ok := b.rel(p)
		if !ok || b.dirs[r] {
			return
		}
		ino, exists := b.names[r]
		switch {
		case !exists && strings.Contains(flags, "O_CREAT"):
			b.nextIno++
			ino = b.nextIno
			b.names[r] = ino
			b.emit(Op{Kind: Create, Path: r, Ino: ino})
		case exists && strings.Contains(flags, "O_TRUNC"):
			b.emit(Op{Kind: Truncate, Path: r, Ino: ino})
		}
		if exists || strings.Contains(flags, "O_CREAT") {
			b.offsets[strconv.FormatInt(c.ret, 10)+" "+r] = 0
		}
	case "close":
		if len(a) == 1 {
			if r, ok := b.rel(fdPath(a[0])); ok {
				delete(b.offsets, fdNum(a[0])+" "+r)
			}
		}
	case "write", "pwrite64":
		if len(a) < 3 {
			return
		}
		r, ok := b.rel(fdPath(a[0]))
		ino, known := b.names[r]
		if !ok || !known {
			return
		}
		data := []byte(strArg(a[1]))
		if int64(len(data)) > c.ret {
			data = data[:c.ret]
		}
		key := fdNum(a[0]) + " " + r
		off := b.offsets[key]
		if c.name == "pwrite64" && len(a) >= 4 {
			off, _ = strconv.ParseInt(a[3], 10, 64)
		} else {
			b.offsets[key] = off + int64(len(data))
		}
		b.emit(Op{Kind: Write, Path: r, Ino: ino, Off: off, Data: data})
	case "ftruncate":
		if len(a) < 2 {
			return
		}
		if r, ok := b.rel(fdPath(a[0])); ok {
			if ino, known := b.names[r]; known {
				size, _ := strconv.ParseInt(a[1], 10, 64)
				b.emit(Op{Kind: Truncate, Path: r, Ino: ino, Size: size})
			}
		}
	case "fsync", "fdatasync":
		if len(a) < 1 {
			return
		}
		r, ok := b.rel(fdPath(a[0]))
		switch {
		case !ok:
		case b.dirs[r]:
			b.emit(Op{Kind: FsyncDir, Path: r})
		default:
			if ino, known := b.names[r]; known {
				b.emit(Op{Kind: Fsync, Path: r, Ino: ino})
			}
		}
	case "rename", "renameat", "renameat2":
		var from, to string
		if c.name == "rename" && len(a) >= 2 {
			from, to = atPath("", a[0]), atPath("", a[1])
		} else if len(a) >= 4 {
			from, to = atPath(a[0], a[1]), atPath(a[2], a[3])
		}
		rf, ok1 := b.rel(from)
		rt, ok2 := b.rel(to)
		ino, known := b.names[rf]
		if !ok1 || !ok2 || !known {
			return // directories are never renamed in the state folder
		}
		_, replaces := b.names[rt]
		delete(b.names, rf)
		b.names[rt] = ino
		b.emit(Op{Kind: Rename, Path: rf, Path2: rt, Ino: ino, Replaces: replaces})
	case "unlink", "unlinkat", "rmdir":
		var p string
		dir := c.name == "rmdir"
		if c.name == "unlinkat" && len(a) >= 3 {
			p = atPath(a[0], a[1])
			dir = strings.Contains(a[2], "AT_REMOVEDIR")
		} else if len(a) >= 1 {
			p = atPath("", a[0])
		}
		r, ok := b.rel(p)
		if !ok {
			return
		}
		if dir {
			delete(b.dirs, r)
			b.emit(Op{Kind: Rmdir, Path: r})
			return
		}
		if ino, known := b.names[r]; known {
			delete(b.names, r)
			b.emit(Op{Kind: Unlink, Path: r, Ino: ino})
		}
	case "mkdir", "mkdirat":
		p := ""
		if c.name == "mkdirat" && len(a) >= 2 {
			p = atPath(a[0], a[1])
		} else if len(a) >= 1 {
			p = atPath("", a[0])
		}
		if r, ok := b.rel(p); ok && !b.dirs[r] {
			b.dirs[r] = true
			b.emit(Op{Kind: Mkdir, Path: r})
		}
	}
}

func (b *opBuilder) emit(o Op) { b.ops = append(b.ops, o) }

// fdNum is the number of an fd argument ("12</x>" → "12").
func fdNum(a string) string {
	if i := strings.IndexByte(a, '<'); i >= 0 {
		return a[:i]
	}
	return a
}
