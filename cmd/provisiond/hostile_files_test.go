package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// runBinary runs the real binary with args, stopped after 20 s, and returns
// its exit code and output; a run that needs the 20 s fails the test.
func runBinary(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v hung (killed after 20 s): %s", args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// A ${file:PATH} placeholder naming a FIFO, which no writer opens, or a
// device: check ends at once with the config error naming the file.
func TestHostilePlaceholderFileIsRegularOnly(t *testing.T) {
	bin := buildDaemon(t)
	for name, make := range map[string]func(path string) error{
		"FIFO":   func(p string) error { return syscall.Mkfifo(p, 0o600) },
		"device": func(p string) error { return syscall.Symlink("/dev/zero", p) },
	} {
		t.Run(name, func(t *testing.T) {
			path, _ := startEmulator(t, fleetsim.Options{}, "")
			serial := filepath.Join(filepath.Dir(path), "serial")
			if err := make(serial); err != nil {
				t.Fatal(err)
			}
			rewriteConfig(t, path, "template:\n  name: GatewayTemplate\n  parameters:\n    SerialNumber: \"${file:serial}\"\n")
			code, out := runBinary(t, bin, "check", "--config", path)
			if code != exitConfig || !strings.Contains(out, serial) || !strings.Contains(out, "not a regular file") {
				t.Fatalf("check with ${file:} on a %s: exit %d, want %d naming %s as not a regular file:\n%s", name, code, exitConfig, serial, out)
			}
		})
	}
}
