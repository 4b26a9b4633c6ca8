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
// that every path closes it the usual way (closeSession); it must be called
// on every path, before the handler returns.
func (r *Runner) dialAhead(ctx context.Context) (connect func() (Session, error)) {
	if r.session != nil {
		s := r.session
		return func() (Session, error) { return s, nil }
	}
	var s Session
	jobs := start(func() error {
		var err error
		s, err = r.open(ctx)
		return err
	})
	return func() (Session, error) {
		if err := join(jobs); err != nil {
			return nil, err
		}
		r.session = s
		return s, nil
	}
}
