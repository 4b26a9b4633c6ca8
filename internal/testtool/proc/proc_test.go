package proc

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// Stop ends the program by its PID and reports how it ended; a second
// Stop is harmless.
func TestStopEndsTheProgram(t *testing.T) {
	p, err := Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	p.Stop()
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("sleep ended with %v; want SIGTERM", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Fatalf("PID %d still exists: %v", pid, err)
	}
	p.Stop()
}

// Done closes when the program exits by itself.
func TestDoneOnExit(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v; want exit status 3", err)
	}
}
