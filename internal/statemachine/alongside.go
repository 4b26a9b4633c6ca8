package statemachine

import (
	"context"
	"runtime"
)

// job is work running alongside the Run goroutine (see the package doc).
// The Run goroutine keeps every state change and crash point to itself:
// such work only reads values it was given and reports an error.
type job struct {
	done     chan struct{}
	err      error
	returned bool
}

// start runs each of fns in its own goroutine.
func start(fns ...func() error) []*job {
	jobs := make([]*job, len(fns))
	for i, fn := range fns {
		j := &job{done: make(chan struct{})}
		go func() {
			defer close(j.done)
			j.err = fn()
			j.returned = true
		}()
		jobs[i] = j
	}
	return jobs
}

// join waits for every job and returns the first error in order. A job
// that ended without returning (runtime.Goexit: a crash in a test) ends
// the caller too, as a crash in the Run goroutine would.
func join(jobs []*job) error {
	var first error
	crashed := false
	for _, j := range jobs {
		<-j.done
		if !j.returned {
			crashed = true
		} else if first == nil {
			first = j.err
		}
	}
	if crashed {
		runtime.Goexit()
	}
	return first
}

// dialAhead starts the claim connection while the caller persists what
// must precede the call. connect waits for it and adopts the session, so
// that every path closes it the usual way (closeSession); abort, for a
// caller that failed before it needs the session, stops the dial first, so
// that a local failure does not wait out a slow network. One of them must
// be called on every path.
func (r *Runner) dialAhead(ctx context.Context) (connect func() (Session, error), abort func()) {
	if r.session != nil {
		s := r.session
		return func() (Session, error) { return s, nil }, func() {}
	}
	dctx, cancel := context.WithCancel(ctx)
	var s Session
	jobs := start(func() error {
		var err error
		s, err = r.open(dctx)
		return err
	})
	connect = func() (Session, error) {
		err := join(jobs)
		cancel()
		if err != nil {
			return nil, err
		}
		r.session = s
		return s, nil
	}
	abort = func() {
		cancel()
		_, _ = connect()
	}
	return connect, abort
}
