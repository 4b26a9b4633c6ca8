package statemachine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/provisiond/provisiond/internal/store"
)

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	id := strings.Repeat("ab", 32)
	tests := []struct {
		st   store.State
		want string
	}{
		{store.State{Phase: store.Registered, ThingName: "gw-0001"}, "registered as gw-0001"},
		{store.State{Phase: store.Unprovisioned}, "unprovisioned: requesting a certificate"},
		{store.State{}, "unprovisioned: requesting a certificate"},
		{store.State{Phase: store.CertPending, CertificateID: id}, "cert-pending: registering certificate abababababab"},
		{store.State{Phase: store.CertPending, CertificateID: id, ThingName: "gw-0001"},
			"cert-pending: registered as gw-0001, checking the new certificate"},
		{store.State{Phase: store.CertPending, Attempts: 3, LastError: "RegisterThing: 503 InternalFailure", LastOperation: "RegisterThing",
			NextAttemptAt: now.Add(8 * time.Second)}, "cert-pending: RegisterThing retry 3 in 8s (503 InternalFailure)"},
		{store.State{Phase: store.Unprovisioned, Attempts: 1, LastError: "CreateCertificateFromCsr: 403 AccessDenied: disabled", LastOperation: "CreateCertificateFromCsr",
			NextAttemptAt: now.Add(time.Hour)}, "unprovisioned: CreateCertificateFromCsr retry 1 in 1h (403 AccessDenied: disabled)"},
		{store.State{Phase: store.Unprovisioned, Attempts: 2, LastError: "connect: connection lost", LastOperation: "connect",
			NextAttemptAt: now.Add(-time.Second)}, "unprovisioned: connect retry 2 now (connection lost)"},
		{store.State{Phase: store.Unprovisioned, Attempts: 2, LastError: "connect: x", LastOperation: "connect", NextAttemptAt: now.Add(90 * time.Second)},
			"unprovisioned: connect retry 2 in 1m30s (x)"},
		{store.State{Phase: store.Unprovisioned, Attempts: 2, LastError: "connect: x509: certificate signed by unknown authority", LastOperation: "connect",
			LastStep: "TLS: server certificate not trusted by root_ca", NextAttemptAt: now.Add(8 * time.Second)},
			"unprovisioned: connect retry 2 in 8s (TLS: server certificate not trusted by root_ca)"},
		{store.State{Phase: store.Unprovisioned, LastErrorKind: store.KindClock}, "unprovisioned: waiting for a plausible clock"},
		{store.State{Phase: store.Unprovisioned, LastErrorKind: store.KindClock, LastError: "connect: x509: expired",
			LastStep: "Clock: the server certificate is not valid at the local clock"},
			"unprovisioned: waiting for a plausible clock (Clock: the server certificate is not valid at the local clock)"},
		{store.State{Phase: store.Unprovisioned, LastErrorKind: store.KindClock, LastError: "connect: x509: expired",
			NextAttemptAt: now.Add(30 * time.Second)},
			"unprovisioned: waiting for a plausible clock, next check in 30s (connect: x509: expired)"},
		{store.State{Phase: store.Unprovisioned, LastError: "make the key: tpm.device: no TPM listening", LastOperation: "make the key",
			LastErrorKind: store.KindPermanent, NextAttemptAt: now.Add(time.Hour)},
			"unprovisioned: make the key retry in 1h (tpm.device: no TPM listening)"},
		{store.State{Phase: store.Unprovisioned, LastError: "ownership token expired: 56m old, safe lifetime 55m"},
			"unprovisioned: requesting a certificate (after ownership token expired: 56m old, safe lifetime 55m)"},
	}
	for _, tc := range tests {
		if got := StatusText(tc.st, now); got != tc.want {
			t.Errorf("StatusText(%+v) =\n%q, want\n%q", tc.st, got, tc.want)
		}
	}
}

func TestBackoffCeilingAndJitter(t *testing.T) {
	for _, f := range []float64{0, 0.3, 0.999, 1, 7, -1} {
		b := newBackoff(time.Second, 30*time.Second, func() float64 { return f })
		want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
		for n := 1; n <= len(want); n++ {
			c := b.ceiling(n)
			if c != want[n-1]*time.Second {
				t.Fatalf("ceiling(%d) = %s, want %s", n, c, want[n-1]*time.Second)
			}
			if d := b.delay(n); d < 0 || d > c {
				t.Errorf("rand %v: delay(%d) = %s outside [0, %s]", f, n, d, c)
			}
		}
	}
	// A long failure streak must not overflow into a negative wait.
	b := newBackoff(time.Second, time.Hour, func() float64 { return 1 })
	if d := b.delay(10000); d != time.Hour {
		t.Errorf("delay(10000) = %s, want the cap", d)
	}
	if d := newBackoff(time.Second, time.Hour, nil).delay(3); d < 0 || d > 4*time.Second {
		t.Errorf("default rand: %s", d)
	}
}

// TestSecretsNeverLogged runs stories that handle keys and tokens with a
// debug logger and looks for them in every message and field.
func TestSecretsNeverLogged(t *testing.T) {
	for _, method := range []string{MethodCSR, MethodCreateKeys} {
		t.Run(method, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			h := newHarness(t, method, autoClock)
			h.logger = zap.New(core)
			h.svc.fail("register", errToken, err503)
			st := h.provision(registeredAs(""))
			key, _ := h.files.Read(st.KeyFile)
			keyBody := strings.Split(string(key), "\n")[1]
			var secrets []string
			h.svc.mu.Lock()
			for token := range h.svc.tokens {
				secrets = append(secrets, token)
			}
			h.svc.mu.Unlock()
			secrets = append(secrets, "PRIVATE KEY", keyBody)
			var all strings.Builder
			for _, e := range logs.All() {
				all.WriteString(e.Message)
				for k, v := range e.ContextMap() {
					all.WriteString(" " + k + "=" + strings.TrimSpace(strings.ReplaceAll(toString(v), "\n", " ")))
				}
				all.WriteString("\n")
			}
			for _, s := range h.notify.Statuses() {
				all.WriteString(s + "\n")
			}
			text := all.String()
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("secret %.20q… appears in the logs or statuses", s)
				}
			}
			if !strings.Contains(text, st.CertificateID) {
				t.Error("the logs do not name the certificate: the check looks at nothing")
			}
		})
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\t", " "), "\r", ""))
}

func fmtAny(v any) string { return fmt.Sprint(v) }
