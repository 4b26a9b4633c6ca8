package statemachine

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/store"
)

// harness wires a Runner to fakes. Several Runners may run one after the
// other on the same store, service and clock, like restarts of the daemon.
type harness struct {
	t        *testing.T
	files    *recFiles
	clock    *fakeClock
	svc      *fakeService
	notify   *fakeNotifier
	settings Settings
	rand     func() float64
	logger   *zap.Logger
	crash    func(point string)
	keys     KeyGenerator

	runner *Runner
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, method string, auto bool) *harness {
	t.Helper()
	return &harness{
		t:      t,
		files:  &recFiles{Memory: store.NewMemory()},
		clock:  newFakeClock(auto),
		svc:    newFakeService(),
		notify: newFakeNotifier(),
		settings: Settings{
			Method:     method,
			KeyType:    "ec-p256",
			Template:   "GatewayTemplate",
			Parameters: map[string]string{"SerialNumber": "0001"},
			Endpoint:   "iot.example:8883",
			RootCAFile: "/etc/provisiond/AmazonRootCA1.pem",
			Retry: config.Retry{
				Initial:           time.Second,
				Max:               5 * time.Minute,
				Permanent:         time.Hour,
				TokenSafeLifetime: 55 * time.Minute,
				ResponseTimeout:   30 * time.Second,
			},
		},
		rand:   func() float64 { return 0.5 },
		logger: zaptest.NewLogger(t),
	}
}

func (h *harness) newRunner() *Runner {
	h.t.Helper()
	r, err := New(h.settings, Deps{
		Files:  h.files,
		Dialer: h.svc,
		Clock:  h.clock,
		Keys:   h.keys,
		Notify: h.notify,
		Logger: h.logger,
		Rand:   h.rand,
		Boot:   h.clock,
		Crash:  h.crash,
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	return r
}

// start runs a new Runner in the background.
func (h *harness) start() *Runner {
	h.t.Helper()
	h.runner = h.newRunner()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	done := make(chan error, 1)
	h.done = done
	r := h.runner
	go func() {
		// A crash hook ends this goroutine with runtime.Goexit: Run never
		// returns, like a killed process.
		crashed := true
		defer func() {
			if crashed {
				close(done)
			}
		}()
		err := r.Run(ctx)
		crashed = false
		done <- err
	}()
	h.t.Cleanup(func() { cancel() })
	return r
}

// stop cancels the running Runner and returns what Run returned.
func (h *harness) stop() error {
	h.t.Helper()
	h.cancel()
	return h.wait()
}

// wait waits for Run to end; a crashed Runner gives errCrashed.
func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err, ok := <-h.done:
		if !ok {
			return errCrashed
		}
		return err
	case <-time.After(20 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

var errCrashed = errors.New("crashed")

// waitStatus waits for a status line starting with prefix.
func (h *harness) waitStatus(prefix string) string {
	h.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-h.notify.ch:
			if strings.HasPrefix(s, prefix) {
				return s
			}
		case <-deadline:
			h.t.Fatalf("no status %q; statuses: %q", prefix, h.notify.Statuses())
		}
	}
}

// waitStatusOrCrash waits for a status with prefix or for the Runner to end.
func (h *harness) waitStatusOrCrash(prefix string) bool {
	h.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-h.notify.ch:
			if strings.HasPrefix(s, prefix) {
				return true
			}
		case err, ok := <-h.done:
			if ok {
				h.t.Fatalf("Run returned %v", err)
			}
			return false
		case <-deadline:
			h.t.Fatalf("no status %q; statuses: %q", prefix, h.notify.Statuses())
		}
	}
}

func (h *harness) state() store.State {
	h.t.Helper()
	st, err := store.LoadState(h.files)
	if err != nil {
		h.t.Fatalf("LoadState: %v", err)
	}
	return st
}

// crashAt makes the n-th passage through point end the Runner's goroutine
// on the spot, like a SIGKILL right after that step was persisted.
func crashAt(point string, n int) func(string) {
	seen := 0
	return func(p string) {
		if p != point {
			return
		}
		seen++
		if seen == n {
			runtime.Goexit()
		}
	}
}
