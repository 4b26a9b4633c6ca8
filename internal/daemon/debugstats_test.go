package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDebugStatsWritesGoroutineCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats")
	t.Setenv(debugStatsEnv, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	StartDebugStats(ctx)

	// The first write is at once; wait for it by polling the file.
	deadline := time.Now().Add(10 * time.Second)
	var data []byte
	for {
		var err error
		if data, err = os.ReadFile(path); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "goroutines ")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 2 {
		t.Fatalf("%s holds %q, want \"goroutines N\" with N ≥ 2 (this test and the writer)", path, data)
	}
}
