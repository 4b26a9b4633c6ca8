package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/daemon"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// unsetEnv is an environment variable no test environment sets.
const unsetEnv = "PROVISIOND_TEST_NEVER_SET_5B1E"

// runningDaemon runs the daemon for the config at path until the test ends.
// Log lines whose message starts with one of watch's keys are sent on its channel.
func runningDaemon(t *testing.T, path string, watch ...string) (*config.Config, chan string, <-chan error) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 100)
	logger := zaptest.NewLogger(t).WithOptions(zap.Hooks(func(e zapcore.Entry) error {
		for _, w := range watch {
			if strings.HasPrefix(e.Message, w) {
				select {
				case seen <- e.Message:
				default:
				}
			}
		}
		return nil
	}))
	return cfg, seen, startTestDaemon(t, &testDaemon{path: path, logger: logger}, cfg)
}

// startTestDaemon runs d until the test ends, when it must stop cleanly.
func startTestDaemon(t *testing.T, d *testDaemon, cfg *config.Config) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon stopped with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	return done
}

func waitLog(t *testing.T, seen chan string, what string) {
	t.Helper()
	select {
	case <-seen:
	case <-time.After(20 * time.Second):
		t.Fatalf("no log line: %s", what)
	}
}

// waitForNewIdentity waits until the daemon is registered with an identity
// other than old ("" for any).
func waitForNewIdentity(t *testing.T, dir, old string) store.Credentials {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	creds, err := waitForRegistered(ctx, dir, old)
	if err != nil {
		t.Fatalf("not registered with an identity other than %q: %v", old, err)
	}
	return creds
}

func registered(t *testing.T, dir string) store.Credentials {
	t.Helper()
	return waitForNewIdentity(t, dir, "")
}

// A config change that parses but whose placeholders cannot be expanded
// keeps the running config instead of stopping the daemon with exit 78.
func TestConfigChangeWithUnexpandableParameterKeepsRunning(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
	cfg, seen, done := runningDaemon(t, path, "config changed but is not valid")
	registered(t, cfg.StateDirectory)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(body), `{SerialNumber: "0001"}`, `{SerialNumber: "${env:`+unsetEnv+`}"}`, 1)
	if bad == string(body) {
		t.Fatalf("config has no SerialNumber parameter:\n%s", body)
	}
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog(t, seen, "the bad config refused")
	select {
	case err := <-done:
		t.Fatalf("daemon stopped with %v on a config it cannot expand", err)
	default:
	}
}

// A key removed from the identity's folder is noticed at once: the daemon
// gets a new identity.
func TestRemovedIdentityFileIsNoticed(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
	cfg, _, _ := runningDaemon(t, path)
	first := registered(t, cfg.StateDirectory)
	if err := os.Remove(first.PrivateKeyFile); err != nil {
		t.Fatal(err)
	}
	second := waitForNewIdentity(t, cfg.StateDirectory, first.CertificateID)
	if filepath.Dir(second.PrivateKeyFile) == filepath.Dir(first.PrivateKeyFile) {
		t.Errorf("new identity in the old folder %s", filepath.Dir(first.PrivateKeyFile))
	}
}

// Removing the whole state directory at runtime does not leave the daemon
// registered without a handoff: it provisions again into the recreated
// folder, and keeps watching it.
func TestStateDirectoryRemovedAtRuntime(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
	cfg, _, _ := runningDaemon(t, path)
	first := registered(t, cfg.StateDirectory)
	// Move it away in one step: a file-by-file removal races with the
	// daemon restoring what it sees disappear.
	gone := cfg.StateDirectory + ".gone"
	if err := os.Rename(cfg.StateDirectory, gone); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	second := waitForNewIdentity(t, cfg.StateDirectory, first.CertificateID)
	fi, err := os.Stat(cfg.StateDirectory)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o750 {
		t.Errorf("recreated state directory mode %o, want 750", perm)
	}
	// The recreated folder is watched: a removed handoff comes back.
	if err := os.Remove(filepath.Join(cfg.StateDirectory, store.CredentialsFile)); err != nil {
		t.Fatal(err)
	}
	if again := registered(t, cfg.StateDirectory); again.CertificateID != second.CertificateID {
		t.Errorf("restored bundle names %s, want %s", again.CertificateID, second.CertificateID)
	}
}

// The state folder's watch covers the identities' folders, new ones too, and
// ignores the store's temp files.
func TestStateWatchCoversIdentityFolders(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(cfg.StateDirectory, "identities", "1", "private.key")
	if err := os.MkdirAll(filepath.Dir(key), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := daemon.WatchFolders(ctx, cfg, zaptest.NewLogger(t), func() { changed <- struct{}{} }, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("no call after %s", what)
		}
	}
	// A temp file alone does not count; the removal after it does.
	tmp := filepath.Join(cfg.StateDirectory, ".credentials.json.tmp-123")
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	wait("removing the identity's key")
	if n := len(changed); n != 0 {
		t.Errorf("%d extra calls", n)
	}
}

// A config change restarts the state machine with the new config, and a new
// log_level applies to the running logger.
func TestConfigChangeRestartsWithNewLogLevel(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	restarted := make(chan struct{}, 10)
	logger := zaptest.NewLogger(t).WithOptions(zap.Hooks(func(e zapcore.Entry) error {
		if strings.HasPrefix(e.Message, "config changed: restarting") {
			restarted <- struct{}{}
		}
		return nil
	}))
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	d := &testDaemon{path: path, logger: logger, level: &level}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	}()
	first := registered(t, cfg.StateDirectory)

	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(overrideYAML(string(body), "log_level: debug\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-restarted:
	case <-time.After(20 * time.Second):
		t.Fatal("the config change did not restart the state machine")
	}
	if got := level.Level(); got != zap.DebugLevel {
		t.Errorf("log level %v after the reload, want debug", got)
	}
	if again := registered(t, cfg.StateDirectory); again.CertificateID != first.CertificateID {
		t.Errorf("the restarted state machine provisioned again: %s, was %s", again.CertificateID, first.CertificateID)
	}
}
