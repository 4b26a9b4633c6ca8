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

// calls counts onChange calls on a channel.
func calls() (func(), chan struct{}) {
	ch := make(chan struct{}, 100)
	return func() { ch <- struct{}{} }, ch
}

func waitCall(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no call after %s", what)
	}
}

func start(t *testing.T, paths []string, onChange func()) *Watcher {
	t.Helper()
	return startWith(t, Options{Paths: paths}, onChange)
}

// startWith starts a watcher with a short debounce, closed when the test ends.
func startWith(t *testing.T, opts Options, onChange func()) *Watcher {
	t.Helper()
	opts.Debounce = 10 * time.Millisecond
	opts.Logger = zaptest.NewLogger(t)
	w, err := Start(context.Background(), opts, onChange)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestFolderChangesAreSeen(t *testing.T) {
	dir := t.TempDir()
	onChange, ch := calls()
	start(t, []string{dir}, onChange)
	steps := []struct {
		what string
		do   func() error
	}{
		{"create", func() error { return os.WriteFile(filepath.Join(dir, "credentials.json"), []byte("{}"), 0o644) }},
		{"write", func() error { return os.WriteFile(filepath.Join(dir, "credentials.json"), []byte("{ }"), 0o644) }},
		{"remove", func() error { return os.Remove(filepath.Join(dir, "credentials.json")) }},
		{"request file", func() error { return os.WriteFile(filepath.Join(dir, "reprovision.request"), nil, 0o600) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		waitCall(t, ch, s.what)
	}
}

func TestWatchedFileThroughItsFolder(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "claim.pem.key") // not there yet
	onChange, ch := calls()
	start(t, []string{cfg, missing}, onChange)

	// Atomic replace, as editors and config managers do it.
	tmp := filepath.Join(dir, ".config.yaml.tmp")
	if err := os.WriteFile(tmp, []byte("a: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "an atomic replace of the config")
	// The watch survives the replace.
	if err := os.WriteFile(cfg, []byte("a: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "a write after the replace")
	if err := os.WriteFile(missing, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCall(t, ch, "the creation of a file that was missing")
}

func TestFilter(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	f, err := newFilter([]string{filepath.Join(dir, "config.yaml"), other})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   fsnotify.Op
		want bool
	}{
		{filepath.Join(dir, "config.yaml"), fsnotify.Write, true},
		{filepath.Join(dir, "config.yaml"), fsnotify.Create, true},
		{filepath.Join(dir, "config.yaml"), fsnotify.Remove, true},
		{filepath.Join(dir, "config.yaml"), fsnotify.Chmod, false},
		{filepath.Join(dir, ".config.yaml.tmp-123"), fsnotify.Create, false},
		{filepath.Join(dir, "notes.txt"), fsnotify.Write, false},
		{filepath.Join(other, "anything"), fsnotify.Create, true},
		{filepath.Join(other, "anything"), fsnotify.Rename, true},
		{other, fsnotify.Remove, true},
	}
	for _, tc := range tests {
		if got := f.counts(fsnotify.Event{Name: tc.name, Op: tc.op}); got != tc.want {
			t.Errorf("%s %s counts %v, want %v", tc.op, tc.name, got, tc.want)
		}
	}
}

// fakeAfter is a clock whose debounce timers the test fires by hand.
type fakeAfter struct {
	armed chan chan time.Time
}

func (f *fakeAfter) Now() time.Time { return time.Time{} }

func (f *fakeAfter) NewTimer(time.Duration) (<-chan time.Time, func() bool) {
	c := make(chan time.Time, 1)
	f.armed <- c
	return c, func() bool { return false }
}

func TestBurstGivesOneCall(t *testing.T) {
	dir := t.TempDir()
	f, err := newFilter([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	fa := &fakeAfter{armed: make(chan chan time.Time, 10)}
	onChange, ch := calls()
	l := &loop{filter: f, debounce: time.Second, clock: fa, onChange: onChange, log: zaptest.NewLogger(t)}
	events := make(chan fsnotify.Event)
	errs := make(chan error)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(ctx, events, errs, false)
	}()
	for round := 1; round <= 2; round++ {
		for i := 0; i < 20; i++ {
			events <- fsnotify.Event{Name: filepath.Join(dir, "f"), Op: fsnotify.Write}
		}
		errs <- fsnotify.ErrEventOverflow
		var timer chan time.Time
		select {
		case timer = <-fa.armed:
		case <-time.After(10 * time.Second):
			t.Fatal("no debounce timer")
		}
		if len(fa.armed) != 0 {
			t.Fatalf("round %d: a burst armed %d timers, want 1", round, 1+len(fa.armed))
		}
		if len(ch) != 0 {
			t.Fatalf("round %d: called before the burst settled", round)
		}
		timer <- time.Time{}
		waitCall(t, ch, "the debounce")
	}
	cancel()
	<-done
	if len(ch) != 0 {
		t.Errorf("%d extra calls", len(ch))
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	onChange, _ := calls()
	_, err := Start(context.Background(), Options{Paths: []string{filepath.Join(dir, "no", "such", "file")}}, onChange)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "no", "such")) {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := Start(context.Background(), Options{}, onChange); err == nil {
		t.Error("no paths: no error")
	}
	if _, err := Start(context.Background(), Options{Paths: []string{dir}}, nil); err == nil {
		t.Error("no function: no error")
	}
}

func TestStopsWithContextAndClose(t *testing.T) {
	dir := t.TempDir()
	onChange, _ := calls()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := Start(ctx, Options{Paths: []string{dir}}, onChange)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not stop with its context")
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
