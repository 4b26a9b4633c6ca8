package fleetsim

import (
	"sync"
	"sync/atomic"
)

// workers runs functions on goroutines that are kept for the next function once done.
//
// A goroutine starts with a small stack and grows it, by copying, the first time a TLS
// handshake, a signature check or a JSON decode needs more; in a storm that is every
// connection and every request, a few percent of the emulator's CPU. A kept goroutine
// starts the next function with the stack it already grew. At most max goroutines wait
// idle; when none is idle, a new one starts, so a function never waits for another.
type workers struct {
	tasks chan func() // unbuffered: a send succeeds only if an idle goroutine takes it
	stop  chan struct{}
	once  sync.Once
	idle  atomic.Int32
	max   int32
}

func newWorkers(max int32) *workers {
	return &workers{tasks: make(chan func()), stop: make(chan struct{}), max: max}
}

// run runs f on an idle goroutine, or on a new one.
func (w *workers) run(f func()) {
	select {
	case w.tasks <- f:
	default:
		go w.loop(f)
	}
}

// loop runs f, then the functions handed to it while it is idle, until close (or until
// enough goroutines are idle already).
func (w *workers) loop(f func()) {
	for {
		f()
		if w.idle.Add(1) > w.max {
			w.idle.Add(-1)
			return
		}
		select {
		case f = <-w.tasks:
			w.idle.Add(-1)
		case <-w.stop:
			w.idle.Add(-1)
			return
		}
	}
}

// close ends the idle goroutines; those running a function end after it.
func (w *workers) close() {
	w.once.Do(func() { close(w.stop) })
}
