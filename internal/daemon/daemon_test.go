package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/statemachine"
)

// offline is a dialer for a service that cannot be reached: each state
// machine the daemon starts reports its config on made.
type offline struct{}

func (offline) Claims() []claims.Claim { return []claims.Claim{claims.Installed("claim")} }
func (offline) Dial(context.Context, claims.Claim) (statemachine.Session, error) {
	return nil, errors.New("offline")
}
func (offline) DialDevice(context.Context, string, string, tls.Certificate) (statemachine.Session, error) {
	return nil, errors.New("offline")
}
func (offline) Prove(context.Context, string, tls.Certificate) error { return errors.New("offline") }

// TestReloadStartsANewStateMachine: a valid, different config stops the
// state machine and starts one with the new config; the log level follows.
func TestReloadStartsANewStateMachine(t *testing.T) {
	dir := t.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{Listen: "127.0.0.1:8883"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "provisiond.yaml")
	cfg, err := config.LoadValid(path)
	if err != nil {
		t.Fatal(err)
	}
	made := make(chan *config.Config, 10)
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	d := &Daemon{
		Path:   path,
		Logger: zaptest.NewLogger(t),
		Level:  &level,
		Dialer: func(cfg *config.Config, _ connect.Options) statemachine.Dialer {
			made <- cfg
			return offline{}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, cfg) }()
	first := waitMade(t, made)
	if first.LogLevel != "info" {
		t.Fatalf("first state machine with log level %q", first.LogLevel)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(body, []byte("log_level: debug\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if next := waitMade(t, made); next.LogLevel != "debug" {
		t.Errorf("state machine restarted with log level %q, want debug", next.LogLevel)
	}
	if level.Level() != zapcore.DebugLevel {
		t.Errorf("logger level %s after the reload", level.Level())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil on a clean stop", err)
	}
}

func TestBadConfigIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{Listen: "127.0.0.1:8883"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "provisiond.yaml")
	body, _ := os.ReadFile(path)
	body = []byte(strings.Replace(string(body), `{SerialNumber: "0001"}`, `{SerialNumber: "${env:PROVISIOND_TEST_NEVER_SET_5B1E}"}`, 1))
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadValid(path); err == nil {
		t.Fatal("LoadValid took a parameter that cannot be expanded")
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Path: path, Logger: zaptest.NewLogger(t),
		Dialer: func(*config.Config, connect.Options) statemachine.Dialer { return offline{} }}
	if err := d.Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
		t.Errorf("Run = %v, want ErrConfig", err)
	}
}

func waitMade(t *testing.T, made <-chan *config.Config) *config.Config {
	t.Helper()
	select {
	case cfg := <-made:
		return cfg
	case <-time.After(20 * time.Second):
		t.Fatal("no state machine started")
		return nil
	}
}
