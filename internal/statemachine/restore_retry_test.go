package statemachine

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/store"
)

// A failed restore of credentials.json is retried on the backoff timer, not
// on each change the failed write itself makes in the folder.
func TestFailedRestoreRetriesOnTheBackoff(t *testing.T) {
	h, r, points := registeredHarness(t, testClock)
	var mu sync.Mutex
	tries, failing := 0, true
	h.files.SetWriteHook(func(name string, _ []byte) error {
		if name != store.CredentialsFile {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		tries++
		if failing {
			return errors.New("disk full")
		}
		return nil
	})
	if err := h.files.Remove(store.CredentialsFile); err != nil {
		t.Fatal(err)
	}
	r.HandoffChanged()
	if d := waitArmed(t, h.clock); d != 500*time.Millisecond {
		t.Fatalf("retry armed in %s, want the first backoff (500ms)", d)
	}
	r.HandoffChanged() // the failed write's own traces
	h.clock.Advance(500 * time.Millisecond)
	if d := waitArmed(t, h.clock); d != time.Second {
		t.Fatalf("second retry armed in %s, want 1s", d)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	h.clock.Advance(time.Second)
	waitPoint(t, points, PointRestored)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries != 3 {
		t.Errorf("%d writes of credentials.json, want 3: one per backoff step", tries)
	}
}
