package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestInitServeRegistryStorm(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"init", "--dir", dir, "--listen", "127.0.0.1:0"}, &out, &errOut); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut.String())
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "provisiond.yaml"))
	if err != nil || !strings.Contains(string(cfg), "endpoint: 127.0.0.1:0") {
		t.Fatalf("provisiond.yaml: %v\n%s", err, cfg)
	}
	if code := run(context.Background(), []string{"init", "--dir", dir}, &out, &errOut); code == 0 {
		t.Fatal("init over an existing CA succeeded")
	}

	ctx, cancel := context.WithCancel(context.Background())
	var serveOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dir", dir, "--listen", "127.0.0.1:0", "--token-ttl", "10m",
			"--fault", "register:delay=1ms:1", "--rate", "register=1000", "--log-level", "warn"}, &serveOut, &errOut)
	}()
	listening := regexp.MustCompile(`^listening on (127\.0\.0\.1:\d+)\n`)
	deadline := time.Now().Add(10 * time.Second)
	var addr string
	for addr == "" {
		if m := listening.FindStringSubmatch(serveOut.String()); m != nil {
			addr = m[1]
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve printed %q; stderr %s", serveOut.String(), errOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A storm without --endpoint would start a second emulator on the folder: refused.
	var lockedOut, lockedErr syncBuffer
	if code := run(context.Background(), []string{"storm", "--dir", dir, "--devices", "1", "--concurrency", "1"},
		&lockedOut, &lockedErr); code != 1 || !strings.Contains(lockedErr.String(), "in use by another fleetsim (serve?); pass --endpoint to storm") {
		t.Errorf("storm on a served folder: exit %d, stderr %q", code, lockedErr.String())
	}

	var stormOut syncBuffer
	if code := run(context.Background(), []string{"storm", "--dir", dir, "--devices", "5", "--concurrency", "2",
		"--endpoint", addr, "--format", "cbor", "--prove"}, &stormOut, &errOut); code != 0 {
		t.Fatalf("storm: exit %d: %s %s", code, stormOut.String(), errOut.String())
	}
	// A line per stage, then the summary; no emulator CPU, since serve runs in this
	// process beside the devices.
	stage := `stage %s: p50 \d+\.\dms p95 \d+\.\dms p99 \d+\.\dms\n`
	printed := regexp.MustCompile(`^` + fmt.Sprintf(stage, `TLS handshake \(TCP included\)`) + fmt.Sprintf(stage, "CONNACK") +
		fmt.Sprintf(stage, `CreateCertificate\*`) + fmt.Sprintf(stage, "RegisterThing") + fmt.Sprintf(stage, "proving connect") +
		`provisioned 5/5 devices in \d+\.\ds: \d+ devices/s, p50 \d+ms, p99 \d+ms\n$`)
	if !printed.MatchString(stormOut.String()) {
		t.Errorf("storm printed %q", stormOut.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !regexp.MustCompile(`^listening on ` + regexp.QuoteMeta(addr) + `\napi listening on http://127\.0\.0\.1:\d+\n$`).MatchString(serveOut.String()) {
		t.Errorf("serve printed %q", serveOut.String())
	}

	var regOut syncBuffer
	if code := run(context.Background(), []string{"registry", "--dir", dir}, &regOut, &errOut); code != 0 {
		t.Fatalf("registry: exit %d: %s", code, errOut.String())
	}
	var reg fleetsim.Registry
	if err := json.Unmarshal([]byte(regOut.String()), &reg); err != nil {
		t.Fatalf("registry output: %v", err)
	}
	if len(reg.Things) != 5 || len(reg.Certificates) != 6 {
		t.Errorf("registry has %d things and %d certificates, want 5 and 6", len(reg.Things), len(reg.Certificates))
	}
}

func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"init"},
		{"serve"},
		{"serve", "--dir", dir, "--fault", "register:explode"},
		{"serve", "--dir", dir, "--rate", "register"},
		{"storm", "--dir", dir},
		{"registry", "--dir", dir, "extra"},
	} {
		var out, errOut syncBuffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"serve", "--dir", dir}, &out, &errOut); code != 1 || errOut.String() == "" {
		t.Errorf("serve on an empty folder: exit %d, stderr %q", code, errOut.String())
	}
}
