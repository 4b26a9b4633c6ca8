package watch

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// ClockSet calls onSet each time the wall clock is set (NTP's first
// step at boot, an operator's `date -s`), so that a device waiting for a
// plausible clock retries at that moment instead of at its next poll. It
// uses a timerfd armed for the far future with TFD_TIMER_CANCEL_ON_SET, whose
// read fails with ECANCELED when the clock is set. It returns once ctx ends.
func ClockSet(ctx context.Context, onSet func()) error {
	fd, err := unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return err
	}
	// Non-blocking, so that the runtime's poller serves reads and Close
	// ends a pending one.
	f := os.NewFile(uintptr(fd), "timerfd")
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	arm := func() error {
		var far unix.ItimerSpec
		far.Value.Sec = 1<<31 - 1 // 2038: far enough, and fits a 32-bit time_t (armhf)
		return unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET, &far, nil)
	}
	if err := arm(); err != nil {
		f.Close()
		return err
	}
	go func() {
		buf := make([]byte, 8)
		for {
			_, err := f.Read(buf)
			if ctx.Err() != nil || !errors.Is(err, unix.ECANCELED) {
				return // stopped, or the timer failed: the runner's own retry remains
			}
			onSet()
			if arm() != nil {
				return
			}
		}
	}()
	return nil
}
