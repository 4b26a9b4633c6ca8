package daemon

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type stuckCloser struct{ release chan struct{} }

func (s stuckCloser) Close() error { <-s.release; return nil }

// A key store whose module never returns from its release does not keep the
// daemon from stopping: the stop goes on, and says why.
func TestStuckKeyStoreDoesNotHoldTheStop(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	c := stuckCloser{release: make(chan struct{})}
	defer close(c.release)
	done := make(chan struct{})
	go func() {
		closeWithin(c, 10*time.Millisecond, zap.New(core))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("closeWithin waited for a key store that never lets go")
	}
	if logs.FilterMessageSnippet("did not let go").Len() != 1 {
		t.Fatalf("logged %v, want the stuck release named", logs.All())
	}
}
