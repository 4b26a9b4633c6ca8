package crashstate

import "testing"

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
