package daemon

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// debugStatsEnv names a file the daemon rewrites every second with its
// goroutine count, for soak tests that watch for leaks from outside (RSS
// and descriptors are in /proc; goroutines are not). Off unless set; a
// debugging aid, not a contract for monitoring.
const debugStatsEnv = "PROVISIOND_DEBUG_STATS"

// debugStatsEvery is how often the file is rewritten.
const debugStatsEvery = time.Second

// StartDebugStats writes the file named by $PROVISIOND_DEBUG_STATS until ctx
// ends; without the variable it does nothing.
func StartDebugStats(ctx context.Context) {
	path := os.Getenv(debugStatsEnv)
	if path == "" {
		return
	}
	go func() {
		t := time.NewTicker(debugStatsEvery)
		defer t.Stop()
		for {
			writeDebugStats(path)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// writeDebugStats replaces path with "goroutines N\n" through a rename, so
// that a reader never sees half a line. Errors are ignored: it is a debug aid.
func writeDebugStats(path string) {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	line := "goroutines " + strconv.Itoa(runtime.NumGoroutine()) + "\n"
	if os.WriteFile(tmp, []byte(line), 0o644) == nil {
		_ = os.Rename(tmp, path)
	}
}
