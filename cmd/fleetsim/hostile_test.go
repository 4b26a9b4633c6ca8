package main

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

// serveLimited starts the real `fleetsim serve` under prlimit with at most
// nofile descriptors, its log in the returned buffer; it returns the MQTT
// address.
func serveLimited(t *testing.T, bin, dir string, nofile string) (string, *syncBuffer) {
	t.Helper()
	prlimit := testtool.Need(t, "prlimit", "util-linux")
	cmd := exec.Command(prlimit, "--nofile="+nofile, bin, "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--log-level", "info")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return a, logs
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not print its address:\n%s", logs.String())
	}
	return "", nil
}

// waitLog waits until the log holds want; after 10 s the test is marked failed.
func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Errorf("the log never said %q:\n%s", want, logs.String())
			return
		}
		time.Sleep(10 * time.Millisecond)
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
	addr, logs := serveLimited(t, bin, dir, "300")
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
	waitLog(t, logs, "MQTT accept failed")
	t.Logf("accept failed after %v", time.Since(start))
	for _, c := range bare {
		c.Close()
	}
	bare = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if code := run(ctx, []string{"storm", "--dir", dir, "--devices", "1", "--concurrency", "1", "--endpoint", addr}, &out, &errOut); code != 0 {
		t.Fatalf("the next device after the exhaustion: exit %d: %s %s\nemulator log:\n%s", code, out.String(), errOut.String(), logs.String())
	}
	t.Logf("provisioned after %v", time.Since(start))
	waitLog(t, logs, "MQTT accepting again")
}
