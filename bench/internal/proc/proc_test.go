package proc

import (
	"os"
	"testing"
)

func TestReadSelf(t *testing.T) {
	// Burn a little CPU so that the counters have something to show.
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.VmRSSKiB <= 0 || s.VmHWMKiB < s.VmRSSKiB {
		t.Errorf("VmRSS %d KiB, VmHWM %d KiB: want 0 < VmRSS <= VmHWM", s.VmRSSKiB, s.VmHWMKiB)
	}
	if s.Threads < 1 || s.RunNs <= 0 {
		t.Errorf("%d threads, %d ns on CPU: want at least one thread and some CPU time", s.Threads, s.RunNs)
	}
}

func TestReadMissingProcess(t *testing.T) {
	if _, err := Read(-1); err == nil {
		t.Error("Read(-1) = nil error")
	}
}
