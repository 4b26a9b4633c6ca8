package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// serve runs `fleetsim serve` with args until the test ends and returns its address.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), &out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit %d: %s", code, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	listening := regexp.MustCompile(`(?m)^listening on (127\.0\.0\.1:\d+)$`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("serve printed %q; stderr %s", out.String(), errOut.String())
	return ""
}

// serve --link-rtt shapes the connections and --trace records their packets.
func TestServeLinkAndTrace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"init", "--dir", dir, "--listen", "127.0.0.1:0"}, &out, &errOut); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut.String())
	}
	tracePath := filepath.Join(t.TempDir(), "trace.jsonl")
	addr := serve(t, "--dir", dir, "--listen", "127.0.0.1:0", "--link-rtt", "20ms", "--link-jitter", "2ms",
		"--trace", tracePath, "--log-level", "warn")
	if code := run(context.Background(), []string{"storm", "--dir", dir, "--devices", "2", "--concurrency", "2",
		"--endpoint", addr}, &out, &errOut); code != 0 {
		t.Fatalf("storm: exit %d: %s %s", code, out.String(), errOut.String())
	}
	f, err := os.Open(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := fleetsim.ReadTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Event+" "+ev.Dir+" "+ev.Packet]++
	}
	// Two devices: two connections, each with one SUBSCRIBE and two requests.
	for k, want := range map[string]int{"open  ": 2, "packet in CONNECT": 2, "packet in SUBSCRIBE": 2, "packet in PUBLISH": 4} {
		if count[k] != want {
			t.Errorf("trace has %d %q, want %d: %v", count[k], k, want, count)
		}
	}
}

func TestBadLinkFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "--dir", dir, "--link-rtt", "-1s"},
		{"serve", "--dir", dir, "--link-loss", "2"},
		{"serve", "--dir", dir, "--link-jitter", "soon"},
		{"storm", "--dir", dir, "--devices", "1", "--concurrency", "1", "--endpoint", "127.0.0.1:1", "--link-rtt", "1s"},
	} {
		var out, errOut syncBuffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "link") {
			t.Errorf("%q: exit %d, want 2 naming the link flag (stderr %q)", args, code, errOut.String())
		}
	}
}
