package main

import (
	"context"
	"net"
	"net/http"
	"os"
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitLog(ctx, want); err != nil {
		t.Errorf("the log never said %q: %v", want, err)
	}
}

// serveWithFewDescriptors runs the real emulator on a fresh folder, then
// limits it to 300 descriptors with prlimit.
func serveWithFewDescriptors(t *testing.T) (string, *fleetsimproc.Server) {
	t.Helper()
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
	return dir, s
}

// Out of descriptors (a limit of 300 set with prlimit on the running real
// emulator, and 400 bare connections), the emulator logs the failed accepts,
// and once the connections are gone it provisions the next device and says
// it accepts again.
func TestHostileDescriptorExhaustionDoesNotStopMQTT(t *testing.T) {
	dir, s := serveWithFewDescriptors(t)
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
	dir, s := serveWithFewDescriptors(t)
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

// --api-credentials-file keeps the secret out of the command line others can
// read (/proc/PID/cmdline, what ps shows), and the API still demands it.
func TestHostileAPISecretNotInPs(t *testing.T) {
	const secret = "s3cret-not-for-ps"
	bin := fleetsimproc.Binary(t)
	dir := filepath.Join(t.TempDir(), "sim")
	if err := fleetsimproc.Init(bin, dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "api-credentials")
	if err := os.WriteFile(file, []byte("AKIDHOSTILE:"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := fleetsimproc.Serve(t, bin, dir, "--api-credentials-file", file)
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), secret) {
		t.Fatalf("the secret is in the command line: %q", cmdline)
	}
	resp, err := http.Get(s.API + "/things")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("an unsigned request: %d %s, want 403: the credentials were not taken from the file", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}
