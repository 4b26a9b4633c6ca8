package crashstate

import (
	"math/rand/v2"
	"testing"

	"github.com/provisiond/provisiond/internal/store"
)

// atomicWrite is the op list of replacing name with data: temp file,
// write, optionally fsync, rename, optionally fsync the folder.
func atomicWrite(ino int, name, data string, fsync, dirSync bool) []Op {
	tmp := "." + name + ".tmp"
	ops := []Op{{Kind: Create, Path: tmp, Ino: ino}, {Kind: Write, Path: tmp, Ino: ino, Data: []byte(data)}}
	if fsync {
		ops = append(ops, Op{Kind: Fsync, Path: tmp, Ino: ino})
	}
	ops = append(ops, Op{Kind: Rename, Path: tmp, Path2: name, Ino: ino, Replaces: true})
	if dirSync {
		ops = append(ops, Op{Kind: FsyncDir})
	}
	return ops
}

// contents lists what name holds in every state a model allows after the
// whole op list ("<missing>" when it is not there).
func contents(t *testing.T, m Model, initial *Tree, ops []Op) map[string]bool {
	t.Helper()
	durable := m.durableAt(ops)
	sp := newSpace(m, ops, durable, len(ops), rand.New(rand.NewPCG(1, 1)))
	seen := map[string]bool{}
	for c := range sp.size() {
		meta, cuts := sp.choice(c)
		tree := replay(m, initial, ops, durable, len(ops), meta, cuts, false)
		data, ok := tree.Files[store.StateFile]
		if !ok {
			seen["<missing>"] = true
			continue
		}
		seen[string(data)] = true
	}
	return seen
}

func initialState() *Tree {
	tr := newTree()
	tr.Files[store.StateFile] = []byte("old")
	return tr
}

// The daemon's atomic write leaves the old or the new content under every
// model, and nothing else.
func TestAtomicWriteLeavesOldOrNew(t *testing.T) {
	big := string(make([]byte, 1500))
	for _, m := range Models {
		got := contents(t, m, initialState(), atomicWrite(2, "state.json", big, true, false))
		if len(got) != 2 || !got["old"] || !got[big] {
			t.Errorf("%s: contents %d, want old and new only", m.Name, len(got))
		}
	}
}

// Without an fsync before the rename, the POSIX model may keep the rename
// and lose the data (an empty file, a block-cut one, or zeros); ext4 flushes
// a file renamed over another (auto_da_alloc), so the synced folder holds
// the new content whole.
func TestRenameWithoutFsyncLosesDataUnderPOSIX(t *testing.T) {
	data := string(bytesOf('x', 1000))
	posix := contents(t, POSIXMin, initialState(), atomicWrite(2, "state.json", data, false, true))
	if !posix[""] || !posix[string(bytesOf('x', 512))] {
		t.Errorf("POSIX: want an empty and a 512-byte cut state.json among %d states", len(posix))
	}
	ext4 := contents(t, Ext4Ordered, initialState(), atomicWrite(2, "state.json", data, false, true))
	if len(ext4) != 1 || !ext4[data] {
		t.Errorf("ext4: %d contents, want the new one only (auto_da_alloc)", len(ext4))
	}
}

// Without the folder fsync, a rename may not have happened; a new file's
// entry may be missing under POSIX even though its data was synced.
func TestRenameWithoutFolderSyncMayBeLost(t *testing.T) {
	ops := append(atomicWrite(2, "state.json", "new", true, false), Op{Kind: Create, Path: "other", Ino: 3}, Op{Kind: Fsync, Path: "other", Ino: 3})
	for _, m := range Models {
		got := contents(t, m, initialState(), ops)
		if m.Journal && (len(got) != 1 || !got["new"]) {
			t.Errorf("ext4: a later fsync commits the rename; got %v", got)
		}
		if !m.Journal && (!got["old"] || !got["new"]) {
			t.Errorf("POSIX: want old and new, got %v", got)
		}
	}
	// A new file whose folder was never synced may be missing.
	fresh := contents(t, POSIXMin, newTree(), atomicWrite(2, "state.json", "new", true, false))
	if !fresh["<missing>"] || !fresh["new"] {
		t.Errorf("POSIX, new file: want missing and new, got %v", fresh)
	}
}

// Under ext4, metadata survives in the order it was made: a later rename
// never survives without an earlier one.
func TestExt4KeepsMetadataInOrder(t *testing.T) {
	ops := append(atomicWrite(2, "a", "1", true, false), atomicWrite(3, "state.json", "2", true, false)...)
	m := Ext4Ordered
	durable := m.durableAt(ops)
	// Cut before the second fsync: both renames' durability depends on it.
	point := len(ops)
	sp := newSpace(m, ops, durable, point, rand.New(rand.NewPCG(1, 1)))
	for c := range sp.size() {
		meta, cuts := sp.choice(c)
		tr := replay(m, newTree(), ops, durable, point, meta, cuts, false)
		if _, second := tr.Files[store.StateFile]; second {
			if _, first := tr.Files["a"]; !first {
				t.Fatalf("state %d: the second rename survived without the first", c)
			}
		}
	}
}

// Sampling beyond the limit is reproducible: the same seed draws the same
// states.
func TestSampleIsSeeded(t *testing.T) {
	a := choices(1000, 10, rand.New(rand.NewPCG(7, 9)))
	b := choices(1000, 10, rand.New(rand.NewPCG(7, 9)))
	if len(a) != 10 || len(b) != 10 {
		t.Fatalf("drew %d and %d, want 10", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different draws: %v %v", a, b)
		}
	}
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
