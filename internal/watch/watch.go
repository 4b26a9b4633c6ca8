package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
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
// is an error naming it.
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
	for _, dir := range set.folders() {
		if err := fsw.Add(dir); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	l := &loop{
		filter:   set,
		debounce: debounce,
		after:    realAfter,
		onChange: onChange,
		log:      log,
	}
	go func() {
		defer close(w.done)
		l.run(ctx, fsw.Events, fsw.Errors)
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
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		if !fi.IsDir() {
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
	after    func(time.Duration) (<-chan time.Time, func())
	onChange func()
	log      *zap.Logger
}

func realAfter(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (l *loop) run(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error) {
	var fire <-chan time.Time
	stop := func() {}
	defer func() { stop() }()
	arm := func() {
		if fire == nil {
			fire, stop = l.after(l.debounce)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if !l.filter.counts(ev) {
				continue
			}
			if _, watched := l.filter[filepath.Clean(ev.Name)]; watched && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				l.log.Warn("a watched folder was removed or moved: its changes are no longer seen", zap.String("folder", ev.Name))
			}
			l.log.Debug("change seen", zap.String("path", ev.Name), zap.String("op", ev.Op.String()))
			arm()
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
			fire, stop = nil, func() {}
			l.onChange()
		}
	}
}
