package registry

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// With a commit delay, changes that stream in while busy says writers are
// about share one batch, which commits as soon as it is full; while busy
// says no, a change commits at once even right after another's commit.
// The delay is a minute, so that a change held by it would show.
func TestCommitDelayGathersAStreamAndNeverHoldsALoneChange(t *testing.T) {
	g := open(t)
	var mu sync.Mutex
	var sizes []int
	if err := g.SetBeforeCommit(func(n int) error {
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var busy atomic.Bool
	if err := g.SetCommitDelay(time.Minute, busy.Load); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	for i := range 3 {
		if err := g.AddPending(pending(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("three lone changes took %s: the delay held them", d)
	}

	busy.Store(true)
	mu.Lock()
	sizes = nil
	mu.Unlock()
	start = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, maxBatch)
	for i := range maxBatch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- g.AddPending(pending(100+i), nil)
		}()
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("a full batch waited %s: it should commit once full", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 1 || sizes[0] != maxBatch {
		t.Fatalf("batches while busy: %v, want one of %d", sizes, maxBatch)
	}
	for i := range maxBatch {
		if _, ok, err := g.Certificate(pending(100 + i).CertificateID); !ok || err != nil {
			t.Fatalf("change %d of the batch is not in the registry (%v)", i, err)
		}
	}
}
