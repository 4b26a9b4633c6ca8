package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

// serveLimited starts the real `fleetsim serve` under prlimit with at most
// nofile descriptors.
func serveLimited(t *testing.T, bin, dir string, nofile string) *fleetsimproc.Server {
	t.Helper()
	prlimit := testtool.Need(t, "prlimit", "util-linux")
	return fleetsimproc.ServeWith(t, fleetsimproc.Options{Bin: bin, Dir: dir,
		Prefix: []string{prlimit, "--nofile=" + nofile}, Flags: []string{"--log-level", "info"}})
}

// waitLog waits until the log holds want; after 10 s the test is marked failed.
func waitLog(t *testing.T, srv *fleetsimproc.Server, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitLog(ctx, want); err != nil {
		t.Errorf("%v:\n%s", err, srv.LogText())
	}
}

// Out of descriptors (a limit of 300 and 400 bare connections), the real
// emulator logs the failed accepts, and once the connections are gone it
// provisions the next device and says it accepts again.
func TestHostileDescriptorExhaustionDoesNotStopMQTT(t *testing.T) {
	bin := fleetsimproc.Binary(t)
	dir := filepath.Join(t.TempDir(), "sim")
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"init", "--dir", dir, "--listen", "127.0.0.1:0"}, &out, &errOut); code != 0 {
		t.Fatalf("init: %s", errOut.String())
	}
	start := time.Now()
	srv := serveLimited(t, bin, dir, "300")
	addr := srv.Addr
	t.Logf("serving after %v", time.Since(start))
	var bare []net.Conn
	defer func() {
		for _, c := range bare {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("bare connection %d: %v", len(bare)+1, err)
		}
		bare = append(bare, c)
	}
	t.Logf("400 connections after %v", time.Since(start))
	waitLog(t, srv, "MQTT accept failed")
	t.Logf("accept failed after %v", time.Since(start))
	for _, c := range bare {
		c.Close()
	}
	bare = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if code := run(ctx, []string{"storm", "--dir", dir, "--devices", "1", "--concurrency", "1", "--endpoint", addr}, &out, &errOut); code != 0 {
		t.Fatalf("the next device after the exhaustion: exit %d: %s %s\nemulator log:\n%s", code, out.String(), errOut.String(), srv.LogText())
	}
	t.Logf("provisioned after %v", time.Since(start))
	waitLog(t, srv, "MQTT accepting again")
}
