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

// pendingDial is the claim connection opening while the caller saves
// what must precede the call. Wait adopts the session, so that every path
// closes it the usual way (closeSession); Abort, for a caller that failed
// before it needs the session, stops the dial first, so that a local
// failure does not wait out a slow network. Callers defer Abort at once: it
// does nothing once Wait has run.
type pendingDial struct {
	r      *Runner
	jobs   []*job
	cancel context.CancelFunc
	s      Session
	info   sessionInfo
	err    error
	done   bool
}

// dialAhead starts the claim connection, or reuses the open one.
func (r *Runner) dialAhead(ctx context.Context) *pendingDial {
	d := &pendingDial{r: r, cancel: func() {}}
	if r.session != nil {
		d.s, d.done = r.session, true
		return d
	}
	dctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	with := r.sessionCredential()
	d.jobs = start(func() error {
		var err error
		d.s, d.info, err = r.open(dctx, with)
		return err
	})
	return d
}

// Wait waits for the connection and adopts it.
func (d *pendingDial) Wait() (Session, error) {
	if d.done {
		return d.s, d.err
	}
	d.done = true
	err := join(d.jobs)
	d.cancel()
	if err != nil {
		d.s, d.err = nil, serviceErr("connect", err)
		return nil, d.err
	}
	d.r.session, d.r.sessionTemplate, d.r.sessionClaim = d.s, d.info.template, d.info.claim
	return d.s, nil
}

// Abort stops a dial nobody waited for.
func (d *pendingDial) Abort() {
	if d.done {
		return
	}
	d.cancel()
	_, _ = d.Wait()
}
