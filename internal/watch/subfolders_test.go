package watch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap/zaptest"
)

// A file removed from a subfolder (an identity's key) is seen, in folders
// there at the start and in ones created later.
func TestSubfoldersAreWatched(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "identities", "1", "private.key")
	if err := os.MkdirAll(filepath.Dir(key), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	onChange, ch := calls()
	startWith(t, Options{Paths: []string{dir}, Subfolders: true}, onChange)
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "removing a key in an existing subfolder")
	next := filepath.Join(dir, "identities", "2")
	if err := os.Mkdir(next, 0o750); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "creating a subfolder")
	if err := os.WriteFile(filepath.Join(next, "certificate.pem"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "writing in a new subfolder")
}

// A watched folder that is removed and created again is watched again.
func TestWatchedFolderComesBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	onChange, ch := calls()
	startWith(t, Options{Paths: []string{dir}, Subfolders: true}, onChange)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "removing the folder")
	if err := os.MkdirAll(filepath.Join(dir, "identities", "1"), 0o750); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "the folder coming back")
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "a change in the folder that came back")
	if err := os.WriteFile(filepath.Join(dir, "identities", "1", "private.key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "a change in a subfolder of the folder that came back")
}

// Ignored names (an atomic writer's temp files) never count.
func TestIgnoredNamesDoNotCount(t *testing.T) {
	dir := t.TempDir()
	f, err := newFilter([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	l := &loop{filter: f, log: zaptest.NewLogger(t), sub: map[string]bool{}, gone: map[string]bool{},
		ignore: func(p string) bool { return strings.Contains(filepath.Base(p), ".tmp-") }}
	for _, tc := range []struct {
		name string
		op   fsnotify.Op
		want bool
	}{
		{".credentials.json.tmp-123", fsnotify.Create, false},
		{".credentials.json.tmp-123", fsnotify.Write, false},
		{".credentials.json.tmp-123", fsnotify.Remove, false},
		{"credentials.json", fsnotify.Create, true},
		{"credentials.json", fsnotify.Remove, true},
	} {
		if got := l.handle(fsnotify.Event{Name: filepath.Join(dir, tc.name), Op: tc.op}); got != tc.want {
			t.Errorf("%s %s counts %v, want %v", tc.op, tc.name, got, tc.want)
		}
	}
}

// A folder that does not exist yet (a state folder before the daemon's first
// start) is watched once it is created.
func TestMissingFolderIsWatchedOnceCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	onChange, ch := calls()
	startWith(t, Options{Paths: []string{filepath.Join(dir, "credentials.json")}}, onChange)
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "creating the folder")
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "writing the file in the folder created")
}
