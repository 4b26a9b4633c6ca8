package crashstate

import (
	"slices"
	"testing"
	"time"
)

// The drop is durable once the drop folder is synced after the drop's
// rename into it: not at the temp file's sync, not at a sync before the
// rename, and never when no drop was made.
func TestDropDurableAtTheFolderSyncAfterTheRename(t *testing.T) {
	tmp := "claim-import/.claim-0123456789abcdef.json.tmp-1"
	drop := "claim-import/claim-0123456789abcdef.json"
	imported := []Op{
		{Kind: Mkdir, Path: "claim-import"},
		{Kind: FsyncDir, Path: "claim-import"},
		{Kind: Create, Path: tmp, Ino: 1},
		{Kind: Write, Path: tmp, Ino: 1},
		{Kind: Fsync, Path: tmp, Ino: 1},
		{Kind: Rename, Path: tmp, Path2: drop, Ino: 1},
		{Kind: FsyncDir, Path: ""},
		{Kind: FsyncDir, Path: "claim-import"},
		{Kind: Create, Path: ".state.json.tmp-2", Ino: 2},
	}
	for _, tc := range []struct {
		name string
		ops  []Op
		want int
	}{
		{"imported", imported, 8},
		{"cut before the folder sync", imported[:7], 8},
		{"no rename into the folder", imported[:5], 6},
		{"nothing", nil, 1},
	} {
		if got := dropDurableAt(tc.ops); got != tc.want {
			t.Errorf("%s: dropDurableAt = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestIsDropTakesOnlyTheFolderFiles(t *testing.T) {
	for path, want := range map[string]bool{
		"claim-import/claim-0123456789abcdef.json":        true,
		"claim-import/.claim-0123456789abcdef.json.tmp-1": false,
		"claim-import/":      false,
		"claim-import/x/y":   false,
		"state.json":         false,
		"claim-importer/a":   false,
		"identities/claim-a": false,
	} {
		if got := isDrop(path); got != want {
			t.Errorf("isDrop(%q) = %v, want %v", path, got, want)
		}
	}
}

// The real daemon with a temporary claim, under ext4-ordered: a state cut
// before the drop was durable provisions once the checker imports again;
// the first state after it, with the drop on disk and unused, provisions
// without; both end with the used drop gone.
func TestRealDaemonKeepsAnImportedClaim(t *testing.T) {
	tools := buildTools(t)
	base := t.TempDir()
	flow, _ := FlowByName("claim-import-stopped")
	rec, err := Record(tools, flow, base, stateDir(base, "r", 0))
	if err != nil {
		t.Fatal(err)
	}
	states, _ := Generate(rec, Ext4Ordered, 4, 1)
	var before, after *State
	for _, s := range states {
		switch {
		case s.Reimport && before == nil:
			before = s
		case !s.Reimport && after == nil:
			after = s
		}
	}
	if before == nil || after == nil || !slices.ContainsFunc(sortedKeys(after.Tree.Files), isDrop) {
		t.Fatalf("want states on both sides of the durable drop (at op %d of %d), the later one holding it", rec.DropDurableAt, len(rec.Ops))
	}
	o := Options{Tools: tools, Base: base, Fixtures: t.TempDir(), Seed: 1, Timeout: 30 * time.Second}
	w, err := newWorker(o, rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	var done []*checked
	for _, s := range []*State{before, after} {
		c, err := w.check(s)
		if err != nil {
			w.srv.Stop()
			t.Fatal(err)
		}
		done = append(done, c)
	}
	if err := w.finish(done); err != nil {
		t.Fatal(err)
	}
	for _, c := range done {
		if !c.res.Recovered {
			t.Errorf("%s (import again: %v): %+v", c.state.ID(), c.state.Reimport, c.res)
		}
	}
}
