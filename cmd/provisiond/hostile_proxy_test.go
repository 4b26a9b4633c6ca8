package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// hostileProxy accepts on 127.0.0.1, reads each CONNECT request and hands
// the connection to answer, which may write anything.
func hostileProxy(t *testing.T, answer func(c net.Conn, req *http.Request)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err == nil {
					answer(c, req)
				}
			}()
		}
	}()
	return l.Addr().String()
}

// endlessAnswer starts a 200 and never ends its headers.
func endlessAnswer(c net.Conn, _ *http.Request) {
	if _, err := c.Write([]byte("HTTP/1.1 200 Connection established\r\nX-Pad: ")); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// daemonProcess is the real provisiond binary running `run`, its stderr
// kept in a file.
type daemonProcess struct {
	cmd *exec.Cmd
	log string
}

func startDaemonProcess(t *testing.T, bin, path string) *daemonProcess {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "JOURNAL_STREAM=", "HTTPS_PROXY=", "https_proxy=", "NO_PROXY=", "no_proxy=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProcess{cmd: cmd, log: logFile.Name()}
	t.Cleanup(p.stop)
	return p
}

func (p *daemonProcess) stop() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func (p *daemonProcess) peakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// guardRSS samples the daemon's peak RSS until ctx ends, and cancels it if
// the daemon ends or its RSS passes limit. The returned function stops the
// sampling and says why it cancelled ("" if it did not).
func (p *daemonProcess) guardRSS(ctx context.Context, cancel context.CancelFunc, limit int64) func() string {
	var why string
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, err := p.peakRSS()
			switch {
			case err != nil:
				why = fmt.Sprintf("the daemon ended: %v", err)
			case rss > limit:
				why = fmt.Sprintf("the daemon's RSS reached %d MB against an endless proxy answer, want under %d MB", rss>>20, limit>>20)
			}
			if why != "" {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() string {
		cancel()
		<-done
		return why
	}
}

// hostileProxyConfig is an emulator's config with the endpoint reached
// through proxyURL (the endpoint named so that loopback is proxied too).
func hostileProxyConfig(t *testing.T, proxyURL string) string {
	t.Helper()
	path, srv := startEmulator(t, fleetsim.Options{}, fastRetry)
	_, port, _ := net.SplitHostPort(srv.Addr())
	rewriteConfig(t, path, "endpoint: LOCALHOST:"+port+"\nproxy: "+proxyURL+"\nlog_level: debug\n")
	return path
}

// Against a proxy whose answer to CONNECT never ends, the real daemon
// stays under 50 MB, saves the failure as transient, and status names the
// proxy.
func TestHostileProxyEndlessAnswerIsBounded(t *testing.T) {
	const limit = 50 << 20
	addr := hostileProxy(t, endlessAnswer)
	path := hostileProxyConfig(t, "http://"+addr)
	cfg, err := config.LoadValid(path)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemonProcess(t, buildDaemon(t), path)
	files := store.ReadOnlyDir(cfg.StateDirectory)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The RSS is watched while the daemon meets the proxy: a daemon that
	// reads without bound must be stopped before it takes the machine.
	guard := d.guardRSS(ctx, cancel, limit)
	var st store.State
	err = awaitInDir(ctx, cfg.StateDirectory, func() bool {
		var err error
		st, err = store.LoadState(files)
		return err == nil && st.LastError != "" && st.Attempts >= 3
	})
	if why := guard(); why != "" {
		d.stop()
		t.Fatalf("%s\n%s", why, readFile(t, d.log))
	}
	if err != nil {
		t.Fatalf("no failure saved in 20 s: %v\n%s", err, readFile(t, d.log))
	}
	rss, _ := d.peakRSS()
	t.Logf("peak RSS after %d attempts: %.1f MB", st.Attempts, float64(rss)/(1<<20))
	d.stop()
	out, err := exec.Command(d.cmd.Path, "status", "--json", "--config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), addr) || !strings.Contains(string(out), "proxy answer too large") {
		t.Fatalf("status does not name the proxy %s and its too large answer:\n%s", addr, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A proxy whose refusal echoes the Basic credentials it was sent: the real
// daemon's log, state.json, status and check --online show neither the
// password nor the token, and still say the proxy refused the credentials.
func TestHostileProxyEchoingTheCredentialsLeaksNothing(t *testing.T) {
	token := base64.StdEncoding.EncodeToString([]byte(proxyUser + ":" + proxyPassword))
	addr := hostileProxy(t, func(c net.Conn, req *http.Request) {
		fmt.Fprintf(c, "HTTP/1.1 407 %s\r\nContent-Length: 0\r\n\r\n", req.Header.Get("Proxy-Authorization"))
	})
	proxyURL := (&url.URL{Scheme: "http", User: url.UserPassword(proxyUser, proxyPassword), Host: addr}).String()
	path := hostileProxyConfig(t, proxyURL)
	cfg, err := config.LoadValid(path)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildDaemon(t)
	d := startDaemonProcess(t, bin, path)
	files := store.ReadOnlyDir(cfg.StateDirectory)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := awaitInDir(ctx, cfg.StateDirectory, func() bool {
		st, err := store.LoadState(files)
		return err == nil && st.LastError != ""
	}); err != nil {
		t.Fatalf("no failure saved: %v\n%s", err, readFile(t, d.log))
	}
	d.stop()
	outputs := map[string]string{
		"log":        readFile(t, d.log),
		"state.json": readFile(t, filepath.Join(cfg.StateDirectory, store.StateFile)),
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"check", "--online", "--timeout", "5s"}} {
		out, _ := exec.Command(bin, append(args, "--config", path)...).CombinedOutput()
		outputs[strings.Join(args, " ")] = string(out)
	}
	if !strings.Contains(outputs["status"], "refused the credentials") || !strings.Contains(outputs["check --online --timeout 5s"], "refused the credentials") {
		t.Errorf("status or check does not say the proxy refused the credentials:\n%s\n%s", outputs["status"], outputs["check --online --timeout 5s"])
	}
	for where, text := range outputs {
		for what, secret := range map[string]string{"password": proxyPassword, "Basic token": token} {
			if strings.Contains(text, secret) {
				t.Errorf("the proxy's echo puts the %s in the %s:\n%s", what, where, text)
			}
		}
	}
}
