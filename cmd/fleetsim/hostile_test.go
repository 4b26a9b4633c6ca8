package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

// waitLog waits until serve's log holds want; after 10 s the test is marked failed.
func waitLog(t *testing.T, s *fleetsimproc.Server, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.LogText(), want) {
		if time.Now().After(deadline) {
			t.Errorf("the log never said %q", want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Out of descriptors (a limit of 300 set with prlimit on the running real
// emulator, and 400 bare connections), the emulator logs the failed accepts,
// and once the connections are gone it provisions the next device and says
// it accepts again.
func TestHostileDescriptorExhaustionDoesNotStopMQTT(t *testing.T) {
	prlimit := testtool.Need(t, "prlimit", "util-linux")
	bin := fleetsimproc.Binary(t)
	dir := filepath.Join(t.TempDir(), "sim")
	if err := fleetsimproc.Init(bin, dir); err != nil {
		t.Fatal(err)
	}
	s := fleetsimproc.Serve(t, bin, dir, "--log-level", "info")
	if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(s.PID()), "--nofile=300").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v: %s", err, out)
	}
	var bare []net.Conn
	defer func() {
		for _, c := range bare {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatalf("bare connection %d: %v", len(bare)+1, err)
		}
		bare = append(bare, c)
	}
	waitLog(t, s, "MQTT accept failed")
	for _, c := range bare {
		c.Close()
	}
	bare = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	if code := run(ctx, []string{"storm", "--dir", dir, "--devices", "1", "--concurrency", "1", "--endpoint", s.Addr}, &out, &errOut); code != 0 {
		t.Fatalf("the next device after the exhaustion: exit %d: %s %s", code, out.String(), errOut.String())
	}
	waitLog(t, s, "MQTT accepting again")
}

// 400 API clients that send a request and then hold their connection open,
// against the real emulator limited to 300 descriptors: the API holds at
// most its cap of them, so a device still provisions over MQTT meanwhile.
func TestHostileIdleAPIClientsDoNotStarveMQTT(t *testing.T) {
	prlimit := testtool.Need(t, "prlimit", "util-linux")
	bin := fleetsimproc.Binary(t)
	dir := filepath.Join(t.TempDir(), "sim")
	if err := fleetsimproc.Init(bin, dir); err != nil {
		t.Fatal(err)
	}
	s := fleetsimproc.Serve(t, bin, dir, "--log-level", "info")
	if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(s.PID()), "--nofile=300").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v: %s", err, out)
	}
	api := strings.TrimPrefix(s.API, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.DialTimeout("tcp", api, 5*time.Second)
		if err != nil {
			t.Fatalf("API connection %d: %v", len(held)+1, err)
		}
		held = append(held, c)
		if _, err := c.Write([]byte("GET /things HTTP/1.1\r\nHost: " + api + "\r\n\r\n")); err != nil {
			t.Fatalf("API request %d: %v", len(held), err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	if code := run(ctx, []string{"storm", "--dir", dir, "--devices", "1", "--concurrency", "1", "--endpoint", s.Addr}, &out, &errOut); code != 0 {
		t.Fatalf("a device while 400 API clients hold their connections: exit %d: %s %s", code, out.String(), errOut.String())
	}
}
