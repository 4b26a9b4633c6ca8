package systemd

import (
	"os"
	"strconv"
	"testing"
	"time"
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
