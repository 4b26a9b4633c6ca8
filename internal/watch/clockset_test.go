package watch

import (
	"context"
	"testing"
)

// The clock-set watch arms on this kernel and stops with its context.
// (Setting the system clock to see it fire is not done in tests.)
func TestWatchClockSetArmsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if err := ClockSet(ctx, func() { t.Error("the clock was not set, yet onSet ran") }); err != nil {
		t.Fatalf("ClockSet: %v", err)
	}
	cancel()
}
