package systemd

import (
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, when WATCHDOG_PID is unset
// or names this process. It returns 0 when the watchdog is off or its
// settings cannot be read. The state machine sends the pings, and only
// while its loop makes progress.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}
