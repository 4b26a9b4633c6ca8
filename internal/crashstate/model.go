package crashstate

import "math"

// Model is what a file system promises across a power cut.
type Model struct {
	Name string
	// Block is the unit in which a file's un-synced data reaches the disk:
	// a cut keeps a prefix of whole blocks.
	Block int64
	// Journal: metadata reaches the disk in the order it was made (a prefix
	// of the un-synced metadata survives) and any fsync commits all of it;
	// auto_da_alloc flushes a file's data before a rename that replaces
	// another file. Without it, an fsync of a directory makes only that
	// directory's entries durable, and any subset of the rest may survive.
	Journal bool
	// ZeroFill: a file's size may reach the disk before its data, so the
	// lost blocks read as zeros.
	ZeroFill bool
}

// The two models the explorer checks.
var (
	Ext4Ordered = Model{Name: "ext4-ordered", Block: 4096, Journal: true}
	POSIXMin    = Model{Name: "posix-minimum", Block: 512, ZeroFill: true}
	Models      = []Model{Ext4Ordered, POSIXMin}
)

const never = math.MaxInt

// durableAt returns, for each op, the index of the barrier after which it
// is durable (never if none comes).
func (m Model) durableAt(ops []Op) []int {
	at := make([]int, len(ops))
	for j, o := range ops {
		at[j] = never
		switch {
		case o.Kind == Write || o.Kind == Truncate && !m.Journal:
			at[j] = nextBarrier(ops, j, func(b Op) bool { return b.Kind == Fsync && b.Ino == o.Ino })
		case o.metadata():
			at[j] = nextBarrier(ops, j, func(b Op) bool {
				if m.Journal {
					return b.Kind == Fsync || b.Kind == FsyncDir
				}
				return b.Kind == FsyncDir && b.Path == parentDir(o.Path)
			})
			if o.Kind == Rename && !m.Journal {
				at[j] = max(at[j], nextBarrier(ops, j, func(b Op) bool {
					return b.Kind == FsyncDir && b.Path == parentDir(o.Path2)
				}))
			}
		}
	}
	return at
}

func nextBarrier(ops []Op, j int, covers func(Op) bool) int {
	for k := j + 1; k < len(ops); k++ {
		if covers(ops[k]) {
			return k
		}
	}
	return never
}
