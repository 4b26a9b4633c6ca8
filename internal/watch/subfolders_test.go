package watch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// fakeWatches records the folders a loop watches.
type fakeWatches map[string]bool

func (f fakeWatches) Add(name string) error    { f[name] = true; return nil }
func (f fakeWatches) Remove(name string) error { delete(f, name); return nil }

// A folder that comes back is watched again and re-scanned: what was
// written in it before its watch was in place is reported, as no event
// will tell of it; what does not count is not.
func TestFolderThatComesBackIsRescanned(t *testing.T) {
	base := t.TempDir()
	whole, file := filepath.Join(base, "state"), filepath.Join(base, "conf", "config.yaml")
	if err := os.Mkdir(whole, 0o750); err != nil { // a folder, not a file, for the filter
		t.Fatal(err)
	}
	f, err := newFilter([]string{whole, file})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Dir(file)
	for _, tc := range []struct {
		name  string
		dir   string
		files []string
		want  bool
	}{
		{"empty folder", whole, nil, false},
		{"a file written in it", whole, []string{"credentials.json"}, true},
		{"a subfolder made in it", whole, []string{"identities/"}, true},
		{"only an atomic writer's temp file", whole, []string{".state.json.tmp-1"}, false},
		{"the watched file", conf, []string{"config.yaml"}, true},
		{"another file beside the watched one", conf, []string{"other.yaml"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(tc.dir)
			if err := os.Mkdir(tc.dir, 0o750); err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.files {
				p := filepath.Join(tc.dir, name)
				if strings.HasSuffix(name, "/") {
					err = os.Mkdir(p, 0o750)
				} else {
					err = os.WriteFile(p, []byte("x"), 0o600)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			watches := fakeWatches{}
			l := &loop{filter: f, log: zaptest.NewLogger(t), fsw: watches, sub: map[string]bool{},
				gone:   map[string]bool{tc.dir: true},
				ignore: func(p string) bool { return strings.Contains(filepath.Base(p), ".tmp-") }}
			if got := l.rearm(tc.dir); got != tc.want {
				t.Errorf("re-scan reports %v, want %v", got, tc.want)
			}
			if !watches[tc.dir] || l.gone[tc.dir] {
				t.Errorf("%s not watched again (watches %v, gone %v)", tc.dir, watches, l.gone)
			}
		})
	}
}

// What a re-scan finds when the watches are set up (a folder Start found
// missing that appeared before its parent was watched) is reported at once.
func TestRescanAtStartIsReported(t *testing.T) {
	dir := t.TempDir()
	f, err := newFilter([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	fa := &fakeAfter{armed: make(chan chan time.Time, 1)}
	onChange, ch := calls()
	l := &loop{filter: f, debounce: time.Second, clock: fa, onChange: onChange, log: zaptest.NewLogger(t),
		fsw: fakeWatches{}, sub: map[string]bool{}, gone: map[string]bool{dir: true}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.run(ctx, nil, nil, l.rearm(dir))
	select {
	case timer := <-fa.armed:
		timer <- time.Time{}
	case <-time.After(10 * time.Second):
		t.Fatal("no call armed for the files the folder already held")
	}
	waitCall(t, ch, "the folder made meanwhile")
}
