package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// statusOf runs `provisiond status` (text and JSON) for the config at path.
func statusOf(t *testing.T, path string) (string, map[string]any) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := runCLI([]string{"status", "--config", path}, &out, &errOut); code != 0 {
		t.Fatalf("status exit %d: %s", code, errOut.String())
	}
	text := strings.TrimSpace(out.String())
	out.Reset()
	if code := runCLI([]string{"status", "--json", "--config", path}, &out, &errOut); code != 0 {
		t.Fatalf("status --json exit %d: %s", code, errOut.String())
	}
	var st map[string]any
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status --json: %v: %s", err, out.String())
	}
	return text, st
}

// A second daemon on the same state directory is refused while the first
// runs, and status tells whether a daemon runs.
func TestOneDaemonPerStateDirectory(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	cfg, _, _ := runningDaemon(t, path)
	registered(t, cfg.StateDirectory)

	text, st := statusOf(t, path)
	if st["running"] != true || !strings.HasPrefix(text, "registered as ") || strings.Contains(text, "not running") {
		t.Errorf("status while running: %q, running=%v", text, st["running"])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	second := &testDaemon{path: path, logger: zaptest.NewLogger(t)}
	err := second.run(ctx, cfg)
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), cfg.StateDirectory) {
		t.Fatalf("second daemon: %v, want ErrInUse naming %s", err, cfg.StateDirectory)
	}
	if ctx.Err() != nil {
		t.Fatal("the second daemon waited instead of refusing at once")
	}
}

func TestStatusSaysWhenNoDaemonRuns(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	provision(t, path) // runs the daemon until registered, then stops it
	text, st := statusOf(t, path)
	if st["running"] != false || !strings.HasPrefix(text, "registered as ") || !strings.HasSuffix(text, "(provisiond is not running)") {
		t.Errorf("status after the daemon stopped: %q, running=%v", text, st["running"])
	}
}

// A reprovision request with no daemon running is kept for the next start,
// and the command says so.
func TestReprovisionWithoutADaemonSaysSo(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	provision(t, path)
	var out, errOut bytes.Buffer
	if code := runCLI([]string{"reprovision", "--config", path}, &out, &errOut); code != 0 {
		t.Fatalf("reprovision exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "no daemon is running: the request is served when it starts") {
		t.Errorf("stderr %q", errOut.String())
	}
}
