package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// runBinary runs the real binary with args, stopped after 20 s, and returns
// its exit code and output; a run that needs the 20 s fails the test.
func runBinary(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	return runBinaryOutput(t, false, bin, args...)
}

// runBinaryOutput is runBinary, with only standard output if stdoutOnly.
func runBinaryOutput(t *testing.T, stdoutOnly bool, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out []byte
	var err error
	if stdoutOnly {
		out, err = cmd.Output()
	} else {
		out, err = cmd.CombinedOutput()
	}
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

// A config file of 2 MiB (a real one is a few KiB) is a config error naming
// the file and the bound, from run, check and status alike.
func TestHostileConfigSizeIsBounded(t *testing.T) {
	bin := buildDaemon(t)
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pad := "# " + strings.Repeat("x", 1000) + "\n"
	writeFile(t, path, append(body, strings.Repeat(pad, 2100)...))
	for _, args := range [][]string{{"check"}, {"status"}, {"run"}} {
		code, out := runBinary(t, bin, append(args, "--config", path)...)
		if code != exitConfig || !strings.Contains(out, path) || !strings.Contains(out, "larger than 1 MiB") {
			t.Errorf("%s with a 2 MiB config: exit %d, want %d naming the file and its bound:\n%.400s", args[0], code, exitConfig, out)
		}
	}
}

// A state.json of 2 MiB, valid JSON for a registered device, is not one the
// daemon writes: run and status refuse it as corrupt (65) and leave it as
// it is, rather than carrying it into memory and credentials.json.
func TestHostileStateSizeIsBounded(t *testing.T) {
	bin := buildDaemon(t)
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	cfg := provision(t, path)
	stateFile := filepath.Join(cfg.StateDirectory, store.StateFile)
	var st map[string]any
	if err := json.Unmarshal([]byte(readFile(t, stateFile)), &st); err != nil {
		t.Fatal(err)
	}
	st["deviceConfiguration"] = map[string]string{"Pad": strings.Repeat("p", 2<<20)}
	big, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, stateFile, big)
	for _, args := range [][]string{{"status"}, {"run"}} {
		code, out := runBinary(t, bin, append(args, "--config", path)...)
		if code != exitDataErr || !strings.Contains(out, stateFile) || !strings.Contains(out, "larger than 1 MiB") {
			t.Errorf("%s with a 2 MiB state.json: exit %d, want %d naming the file and its bound:\n%.400s", args[0], code, exitDataErr, out)
		}
	}
	if readFile(t, stateFile) != string(big) {
		t.Error("the refused state.json was changed")
	}
}

// A claim key file that other users may read draws check's warning, which
// --warnings-as-errors turns into a failure; a private one does not.
func TestHostileClaimKeyReadableByOthersIsWarned(t *testing.T) {
	bin := buildDaemon(t)
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	cfg, err := config.LoadValid(path)
	if err != nil {
		t.Fatal(err)
	}
	key := cfg.Claims[0].PrivateKey
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, false}, {0o644, true}, {0o606, true}} {
		if err := os.Chmod(key, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, out := runBinaryOutput(t, true, bin, "check", "--online", "--json", "--timeout", "5s", "--config", path)
		var results []struct{ Name, Status, Message, Fix string }
		if err := json.Unmarshal([]byte(out), &results); err != nil {
			t.Fatalf("check --json: %v\n%s", err, out)
		}
		var claim struct{ Name, Status, Message, Fix string }
		for _, r := range results {
			if r.Name == "claim" {
				claim = r
			}
		}
		warned := claim.Status == "warn" && strings.Contains(claim.Message, key) && strings.Contains(claim.Message, "other users") && claim.Fix != ""
		if warned != tc.warn {
			t.Errorf("claim key mode %04o: the claim check says %s %q (fix %q), want a warning: %v", tc.mode, claim.Status, claim.Message, claim.Fix, tc.warn)
		}
		if code, _ := runBinary(t, bin, "check", "--online", "--warnings-as-errors", "--timeout", "5s", "--config", path); (code != exitOK) != tc.warn {
			t.Errorf("claim key mode %04o: check --online --warnings-as-errors exits %d", tc.mode, code)
		}
		if code, out := runBinary(t, bin, "check", "--config", path); code != exitOK || strings.Contains(out, "warning: the claim key "+key) != tc.warn {
			t.Errorf("claim key mode %04o: the offline check exits %d, want 0 and a warning %v:\n%s", tc.mode, code, tc.warn, out)
		}
	}
}

// A registered device whose credentials.json cannot be written (something
// made it a folder): status says so instead of "registered", and once the
// path is free again the real daemon restores the file and status is clean.
func TestHostileUnwritableHandoffIsInStatus(t *testing.T) {
	bin := buildDaemon(t)
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
	cfg := provision(t, path)
	creds := filepath.Join(cfg.StateDirectory, store.CredentialsFile)
	if err := os.Remove(creds); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(creds, "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	d := startDaemonProcess(t, bin, path)
	files := store.ReadOnlyDir(cfg.StateDirectory)
	saved := func(want bool) func() bool {
		return func() bool {
			st, err := store.LoadState(files)
			return err == nil && (st.LastOperation == "write credentials") == want
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	werr := awaitInDir(ctx, cfg.StateDirectory, saved(true))
	_, out := runBinary(t, bin, "status", "--config", path)
	if werr != nil || !strings.Contains(out, "credentials.json cannot be written") {
		t.Fatalf("status while credentials.json cannot be written: %q (saved: %v)\n%s", out, werr, readFile(t, d.log))
	}
	if err := os.RemoveAll(creds); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := awaitInDir(ctx2, cfg.StateDirectory, saved(false)); err != nil {
		t.Fatalf("the failure was not cleared once credentials.json could be written: %v", err)
	}
	if _, err := store.ReadCredentials(creds); err != nil {
		t.Fatalf("credentials.json not restored: %v", err)
	}
	if _, out := runBinary(t, bin, "status", "--config", path); !strings.HasPrefix(out, "registered as ") || strings.Contains(out, "cannot") {
		t.Fatalf("status after the restore: %q", out)
	}
}
