package systemd

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, when WATCHDOG_PID is unset
// or names this process. It returns 0 when the watchdog is off or its
// settings cannot be read.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// RunWatchdog sends WATCHDOG=1 every interval for as long as alive reports
// that the daemon's loop is making progress; a wedged loop stops the pings
// so that systemd restarts the service. A nil alive counts as always alive.
// It returns when ctx is done, or at once if interval is not positive or no
// service manager is listening.
func (n *Notifier) RunWatchdog(ctx context.Context, interval time.Duration, alive func() bool) {
	if !n.Enabled() || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	n.runWatchdog(ctx, t.C, alive)
}

// runWatchdog is RunWatchdog's loop with the ticker injected.
func (n *Notifier) runWatchdog(ctx context.Context, ticks <-chan time.Time, alive func() bool) {
	stalled := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		if alive != nil && !alive() {
			if !stalled {
				n.logger.Warn("main loop reports no progress; withholding watchdog pings")
			}
			stalled = true
			continue
		}
		if stalled {
			n.logger.Info("main loop progressing again; watchdog pings resumed")
			stalled = false
		}
		n.Watchdog()
	}
}
