package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/logging"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

// tokenSpy records the ownership tokens the state machine sends.
type tokenSpy struct {
	statemachine.Dialer
	mu     sync.Mutex
	tokens []string
}

func (s *tokenSpy) Dial(ctx context.Context, claim claims.Claim) (statemachine.Session, error) {
	sess, err := s.Dialer.Dial(ctx, claim)
	if err != nil {
		return nil, err
	}
	return &sessionSpy{Session: sess, spy: s}, nil
}

type sessionSpy struct {
	statemachine.Session
	spy *tokenSpy
}

func (s *sessionSpy) RegisterThing(ctx context.Context, template, token string, p map[string]string) (*fleet.Registration, error) {
	s.spy.mu.Lock()
	s.spy.tokens = append(s.spy.tokens, token)
	s.spy.mu.Unlock()
	return s.Session.RegisterThing(ctx, template, token, p)
}

// With log_level debug and create-keys, no key material and no token reach the log,
// even through retries and a token refusal.
func TestDebugLogHoldsNoSecrets(t *testing.T) {
	reject, _ := fleetsim.ParseFault("register:reject=500:1")
	path, _ := startEmulator(t, fleetsim.Options{Faults: []fleetsim.Fault{reject}},
		fastRetry+"certificate_method: create-keys\nlog_level: debug\n")
	logFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	logger, err := logging.New("debug", logFile)
	if err != nil {
		t.Fatal(err)
	}
	spy := &tokenSpy{}
	d := &testDaemon{logger: logger, wrapDialer: func(inner statemachine.Dialer) statemachine.Dialer {
		spy.Dialer = inner
		return spy
	}}
	cfg := provisionWith(t, path, d)
	_ = logger.Sync()
	logged, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	log := string(logged)
	if !strings.Contains(log, "registered") {
		t.Fatalf("the debug log does not even say registered; is it captured?\n%s", log)
	}
	if len(spy.tokens) < 2 {
		t.Fatalf("saw %d RegisterThing calls, want a retry", len(spy.tokens))
	}
	for _, tok := range spy.tokens {
		if tok == "" || strings.Contains(log, tok) {
			t.Fatalf("an ownership token appears in the log (or was empty)")
		}
	}
	creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(creds.PrivateKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log, "PRIVATE KEY") {
		t.Fatal("a PEM private key header appears in the log")
	}
	for _, line := range strings.Split(string(key), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(log, line) {
			t.Fatal("private key material appears in the log")
		}
	}
}
