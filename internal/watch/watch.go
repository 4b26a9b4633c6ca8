package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/clock"
)

// DefaultDebounce gathers a burst of events into one call.
const DefaultDebounce = 100 * time.Millisecond

// Options say what to watch.
type Options struct {
	// Paths are folders or files. A folder counts every change in it. A file
	// is watched through its folder, and only changes to that name count;
	// it need not exist yet.
	Paths []string
	// Debounce is how long after the first event of a burst the call comes;
	// 0 means DefaultDebounce.
	Debounce time.Duration
	// Subfolders also watches the subfolders of the watched folders, at any
	// depth, including ones created later: a change in them counts too.
	Subfolders bool
	// Ignore, when set, names paths whose changes never count, such as an
	// atomic writer's temp files.
	Ignore func(path string) bool
	// Logger may be nil.
	Logger *zap.Logger
}

// Watcher watches until its context ends or Close is called.
type Watcher struct {
	cancel   context.CancelFunc
	done     chan struct{}
	closeErr error // set before done is closed
}

// Start watches opts.Paths and calls onChange, from one goroutine, once after
// each burst of relevant changes. The watches are in place when it returns,
// so a change made after Start is never missed. A folder that does not exist
// yet is watched through its parent until it is created, as one removed
// later is; one whose parent does not exist either is an error naming it. A
// folder that comes back counts as a change, and it is re-scanned once
// watched, so that what was written in it before is reported too.
func Start(ctx context.Context, opts Options, onChange func()) (*Watcher, error) {
	if onChange == nil {
		return nil, errors.New("watch: no function to call")
	}
	if len(opts.Paths) == 0 {
		return nil, errors.New("watch: nothing to watch")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	debounce := opts.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	set, err := newFilter(opts.Paths)
	if err != nil {
		return nil, err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	var missing []string
	for _, dir := range set.folders() {
		err := fsw.Add(dir)
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, dir)
			err = fsw.Add(filepath.Dir(dir))
		}
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	l := &loop{
		filter:     set,
		debounce:   debounce,
		clock:      clock.Real(),
		onChange:   onChange,
		log:        log,
		fsw:        fsw,
		ignore:     opts.Ignore,
		subfolders: opts.Subfolders,
		sub:        map[string]bool{},
		gone:       map[string]bool{},
	}
	if opts.Subfolders {
		for dir, e := range set {
			if e.all {
				l.addTree(dir)
			}
		}
	}
	changed := false
	for _, dir := range missing {
		l.gone[dir] = true
		if isDir(dir) { // created before its parent was watched: no event tells of it
			changed = l.rearm(dir) || changed
		}
	}
	go func() {
		defer close(w.done)
		l.run(ctx, fsw.Events, fsw.Errors, changed)
		w.closeErr = fsw.Close()
	}()
	return w, nil
}

// Close stops watching and waits until no call is in progress; it must not
// be called from onChange. Cancelling Start's context stops it too.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	return w.closeErr
}

// Done is closed once the watcher has stopped.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// filter decides which events count: every event in a whole folder, or
// only those naming one of the files watched in it.
type filter map[string]*folder

type folder struct {
	all   bool
	names map[string]bool
}

func newFilter(paths []string) (filter, error) {
	f := filter{}
	for _, p := range paths {
		if p == "" {
			return nil, errors.New("watch: empty path")
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		dir, name := abs, ""
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			dir, name = filepath.Split(abs)
			dir = filepath.Clean(dir)
		}
		// A folder that does not exist yet is Start's to watch for.
		fi, err := os.Stat(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		if err == nil && !fi.IsDir() {
			return nil, fmt.Errorf("watch %s: %s is not a folder", p, dir)
		}
		e := f[dir]
		if e == nil {
			e = &folder{names: map[string]bool{}}
			f[dir] = e
		}
		if name == "" {
			e.all = true
		} else {
			e.names[name] = true
		}
	}
	return f, nil
}

func (f filter) folders() []string {
	out := make([]string, 0, len(f))
	for dir := range f {
		out = append(out, dir)
	}
	return out
}

// counts reports whether ev is a change the caller cares about.
func (f filter) counts(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		// Attribute changes alone (touch, atime) change no content.
		return false
	}
	name := filepath.Clean(ev.Name)
	if _, ok := f[name]; ok {
		return true // the watched folder itself was removed or moved
	}
	dir, base := filepath.Split(name)
	e := f[filepath.Clean(dir)]
	return e != nil && (e.all || e.names[base])
}

// loop gathers events into calls.
type loop struct {
	filter   filter
	debounce time.Duration
	clock    clock.Clock // arms the debounce timer
	onChange func()
	log      *zap.Logger

	fsw        watchList // nil: the watches never change (tests)
	ignore     func(string) bool
	subfolders bool
	sub        map[string]bool // subfolders watched (Options.Subfolders)
	gone       map[string]bool // watched folders removed: their parent is watched until they return
}

// watchList is the part of *fsnotify.Watcher the loop changes.
type watchList interface {
	Add(name string) error
	Remove(name string) error
}

// run calls onChange once after each burst of counted events; changed says
// that something already counts at its start.
func (l *loop) run(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error, changed bool) {
	var fire <-chan time.Time
	stop := func() bool { return false }
	defer func() { stop() }()
	arm := func() {
		if fire == nil {
			fire, stop = l.clock.NewTimer(l.debounce)
		}
	}
	if changed {
		arm()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if l.handle(ev) {
				arm()
			}
		case err, ok := <-errs:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: assume the worst and let the caller re-read.
				l.log.Warn("too many changes at once: re-reading everything")
				arm()
				continue
			}
			l.log.Warn("watching folders", zap.Error(err))
		case <-fire:
			fire, stop = nil, func() bool { return false }
			l.onChange()
		}
	}
}

// handle keeps the watches in step with ev and reports whether it counts.
func (l *loop) handle(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if l.gone[name] {
		if ev.Has(fsnotify.Create) && isDir(name) {
			l.rearm(name)
			return true // its coming back is a change, whatever it holds yet
		}
		return false
	}
	if l.ignore != nil && l.ignore(name) {
		return false
	}
	inSub := l.sub[filepath.Dir(name)]
	if !l.filter.counts(ev) && !(inSub && ev.Op != fsnotify.Chmod) {
		return false
	}
	if _, watched := l.filter[name]; watched && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		l.lost(name)
	}
	if l.sub[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		delete(l.sub, name)
		if l.fsw != nil {
			_ = l.fsw.Remove(name) // already gone with a removal
		}
	}
	if l.subfolders && ev.Has(fsnotify.Create) && l.inAllFolder(name) && isDir(name) {
		l.addTree(name)
	}
	l.log.Debug("change seen", zap.String("path", ev.Name), zap.String("op", ev.Op.String()))
	return true
}

// inAllFolder reports whether name lies directly in a folder whose every
// change counts, or in one of its watched subfolders.
func (l *loop) inAllFolder(name string) bool {
	dir := filepath.Dir(name)
	if e := l.filter[dir]; e != nil && e.all {
		return true
	}
	return l.sub[dir]
}

// addTree watches dir's subfolders (and dir itself if it is one of them).
func (l *loop) addTree(root string) {
	if l.fsw == nil {
		return
	}
	_ = filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil // gone meanwhile, or a file
		}
		if _, watched := l.filter[path]; watched {
			return nil
		}
		if err := l.fsw.Add(path); err != nil {
			l.log.Warn("cannot watch a subfolder", zap.String("folder", path), zap.Error(err))
			return nil
		}
		l.sub[path] = true
		return nil
	})
}

// lost watches the parent of a watched folder that was removed or moved, so
// that the folder is watched again when it comes back.
func (l *loop) lost(dir string) {
	if l.fsw == nil {
		l.log.Warn("a watched folder was removed or moved: its changes are no longer seen", zap.String("folder", dir))
		return
	}
	_ = l.fsw.Remove(dir) // a moved folder would keep its watch under the old name
	parent := filepath.Dir(dir)
	if err := l.fsw.Add(parent); err != nil {
		l.log.Warn("a watched folder was removed or moved, and its parent cannot be watched: its changes are no longer seen",
			zap.String("folder", dir), zap.Error(err))
		return
	}
	l.gone[dir] = true
	l.log.Warn("a watched folder was removed or moved: waiting for it to come back", zap.String("folder", dir))
	if isDir(dir) { // it came back before the parent was watched; the removal counts already
		l.rearm(dir)
	}
}

// rearm watches a folder that came back, and then re-scans it: it reports
// whether the folder already holds something that counts, written before
// the watch was in place, which no event will tell of.
func (l *loop) rearm(dir string) bool {
	delete(l.gone, dir)
	if err := l.fsw.Add(dir); err != nil {
		l.log.Warn("cannot watch a folder that came back", zap.String("folder", dir), zap.Error(err))
		l.gone[dir] = true
		return false
	}
	if l.subfolders {
		l.addTree(dir)
	}
	parent := filepath.Dir(dir)
	_, watched := l.filter[parent]
	if !watched && !l.sub[parent] && !l.goneIn(parent) {
		_ = l.fsw.Remove(parent)
	}
	l.log.Info("watching a folder again", zap.String("folder", dir))
	return l.holdsCounted(dir)
}

// holdsCounted reports whether dir (a watched folder) holds an entry whose
// change would count: any entry not ignored for a whole folder, a watched
// name otherwise.
func (l *loop) holdsCounted(dir string) bool {
	e := l.filter[dir]
	entries, err := os.ReadDir(dir)
	if e == nil || err != nil {
		return false
	}
	for _, d := range entries {
		path := filepath.Join(dir, d.Name())
		if (l.ignore == nil || !l.ignore(path)) && (e.all || e.names[d.Name()]) {
			return true
		}
	}
	return false
}

func (l *loop) goneIn(parent string) bool {
	for dir := range l.gone {
		if filepath.Dir(dir) == parent {
			return true
		}
	}
	return false
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
