package fleetsimproc

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(RunTests(m)) }

// Serve is ready with both addresses on 127.0.0.1, both answer, its log
// holds the lines, and Stop ends it by its PID.
func TestServeIsReadyAndStops(t *testing.T) {
	bin := Binary(t)
	dir := filepath.Join(t.TempDir(), "sim")
	if err := Init(bin, dir); err != nil {
		t.Fatal(err)
	}
	s := Serve(t, bin, dir, "--log-level", "info")
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || !strings.HasPrefix(s.API, "http://127.0.0.1:") {
		t.Fatalf("addresses %q and %q", s.Addr, s.API)
	}
	rsp, err := http.Get(s.API + "/things")
	if err != nil {
		t.Fatalf("the API at %s: %v", s.API, err)
	}
	rsp.Body.Close()
	if log := s.LogText(); !strings.Contains(log, "listening on "+s.Addr) {
		t.Fatalf("log %s lacks the listening line:\n%s", s.Log, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitLog(ctx, "api listening on "+s.API); err != nil {
		t.Fatal(err)
	}
	pid := s.PID()
	s.Stop()
	if err := s.WaitLog(ctx, "no such line"); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitLog on a stopped serve: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Fatalf("fleetsim (PID %d) still exists after Stop: %v", pid, err)
	}
}

// A serve that cannot start says so at once, with its log.
func TestServeThatExitsReportsItsLog(t *testing.T) {
	bin := Binary(t)
	_, err := Start(Options{Bin: bin, Dir: t.TempDir(), Flags: []string{"--rate", "register"}})
	if err == nil || !strings.Contains(err.Error(), "exited before listening") || !strings.Contains(err.Error(), "--rate") {
		t.Fatalf("got %v; want an exit before listening, with serve's complaint about --rate", err)
	}
}
