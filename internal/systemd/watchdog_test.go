package systemd

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
	}{
		{"unset", "", "", 0},
		{"no pid", "30000000", "", 15 * time.Second},
		{"our pid", "20000000", self, 10 * time.Second},
		{"other pid", "20000000", strconv.Itoa(os.Getpid() + 1), 0},
		{"odd microseconds", "3", "", 1500 * time.Nanosecond},
		{"zero", "0", "", 0},
		{"negative", "-5", "", 0},
		{"malformed", "30s", "", 0},
		{"malformed pid", "20000000", "me", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			if got := WatchdogInterval(); got != tt.want {
				t.Fatalf("WatchdogInterval() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunWatchdogPingsOnlyWhileAlive(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "@test")
	n := NewNotifier(zaptest.NewLogger(t))
	var sent []string
	n.send = func(s string) (bool, error) { sent = append(sent, s); return true, nil }

	progress := []bool{true, false, false, true, true}
	calls := 0
	alive := func() bool { calls++; return progress[calls-1] }

	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		n.runWatchdog(ctx, ticks, alive)
		close(done)
	}()
	for range progress {
		ticks <- time.Time{} // unbuffered: the previous tick is fully handled
	}
	cancel()
	<-done

	if calls != len(progress) {
		t.Fatalf("alive called %d times, want %d", calls, len(progress))
	}
	if len(sent) != 3 {
		t.Fatalf("sent %q, want 3 watchdog pings for 3 live ticks", sent)
	}
	for _, s := range sent {
		if s != "WATCHDOG=1" {
			t.Fatalf("sent %q, want only WATCHDOG=1", sent)
		}
	}
}

func TestRunWatchdogDisabledInterval(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "@test")
	n := NewNotifier(nil)
	n.send = func(string) (bool, error) { t.Fatal("sent with watchdog off"); return false, nil }
	n.RunWatchdog(t.Context(), 0, nil) // must return, not block
}
