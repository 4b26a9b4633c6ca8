package attesttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/attest"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// HookBinary builds cmd/attest-hook once per test process. RemoveBuilt,
// from TestMain, removes it.
func HookBinary(tb testing.TB) string {
	tb.Helper()
	root := moduleRoot(tb)
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "attest-hook-bin"); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "attest-hook"), "./cmd/attest-hook")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "attest-hook")
}

// RemoveBuilt removes what HookBinary built.
func RemoveBuilt() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "go build ./cmd/attest-hook: " + e.err.Error() + "\n" + string(e.out)
}

// Output collects a process's output while a test reads it.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// WaitFor waits until the output holds want, within a bound.
func (o *Output) WaitFor(tb testing.TB, want string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(o.String(), want) {
		if time.Now().After(deadline) {
			tb.Fatalf("output never held %q:\n%s", want, o.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Hook is attest-hook --listen, running.
type Hook struct {
	// URL is where fleetsim's preProvisioningHook setting points.
	URL    string
	Stderr *Output
	// Stop stops it by its PID (SIGTERM, SIGKILL after a bound); safe to
	// repeat. The test's end calls it.
	Stop func()
}

// StartHook runs attest-hook --listen 127.0.0.1:0 with the OEM roots in
// rootsPEM and extra flags.
func StartHook(tb testing.TB, rootsPEM []byte, extra ...string) *Hook {
	tb.Helper()
	roots := filepath.Join(tb.TempDir(), "oem-roots.pem")
	writeFile(tb, roots, rootsPEM)
	cmd := exec.Command(HookBinary(tb), append([]string{"--roots", roots, "--listen", "127.0.0.1:0"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	h := &Hook{Stderr: &Output{}}
	cmd.Stderr = h.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // its stderr says
	var once sync.Once
	h.Stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill() //nolint:errcheck // it may have exited
				<-exited
			}
		})
	}
	tb.Cleanup(h.Stop)
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		io.Copy(io.Discard, stdout) //nolint:errcheck // drained
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening on ")
		if !ok {
			tb.Fatalf("attest-hook printed %q; stderr:\n%s", s, h.Stderr)
		}
		h.URL = "http://" + addr + "/hook"
	case <-time.After(15 * time.Second):
		tb.Fatalf("attest-hook did not listen; stderr:\n%s", h.Stderr)
	}
	return h
}

// Post sends ev as fleetsim does and returns the answer.
func (h *Hook) Post(tb testing.TB, ev attest.Event) attest.Response {
	tb.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	rsp, err := http.Post(h.URL, "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer rsp.Body.Close()
	var r attest.Response
	if err := json.NewDecoder(rsp.Body).Decode(&r); err != nil || rsp.StatusCode != http.StatusOK {
		tb.Fatalf("hook answered %d: %v", rsp.StatusCode, err)
	}
	return r
}

// TemplateSettings is the settings file that makes url a template's
// pre-provisioning hook in fleetsim.
func TemplateSettings(url string) []byte {
	b, _ := json.Marshal(map[string]any{"enabled": true, "preProvisioningHook": map[string]string{"url": url}})
	return b
}
