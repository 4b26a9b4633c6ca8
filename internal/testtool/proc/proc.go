// Package proc runs a helper program that a test or a test tool started
// (swtpm, fleetsim): it dies with its parent, and it is stopped by its PID,
// never by its name.
package proc

import (
	"os/exec"
	"syscall"
	"time"
)

// StopBound is how long a program has to exit after SIGTERM before it is
// killed.
const StopBound = 10 * time.Second

// Proc is a started program.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd so that it gets SIGKILL if the starting process dies,
// and reaps it when it exits.
func Start(cmd *exec.Cmd) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID is the program's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed once the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the program exited; valid once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM, so that the program saves its state, and SIGKILL if
// it has not exited within StopBound; it returns once the program is gone.
// Safe to call more than once.
func (p *Proc) Stop() {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopBound):
		p.Kill()
	}
}

// Kill sends SIGKILL and waits for the program to exit.
func (p *Proc) Kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (p *Proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig) // it may exit meanwhile
	}
}
