package logging

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"
)

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewConsole(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	stderr := tempFile(t, "stderr")
	logger, err := New("warn", stderr)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("hidden")
	logger.Warn("claim rejected", zap.String("state", "unprovisioned"))

	out := readAll(t, stderr)
	if strings.Contains(out, "hidden") {
		t.Errorf("info logged at warn level:\n%s", out)
	}
	// 2026-11-26T12:00:00.000Z	WARN	logging/logger_test.go:31	claim rejected	{"state": "unprovisioned"}
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d{4})\tWARN\t\S+logger_test\.go:\d+\tclaim rejected\t\{"state": "unprovisioned"\}\n$`)
	if !line.MatchString(out) {
		t.Errorf("console line %q does not match %v", out, line)
	}
}

// A level changed while the logger runs (a config reload) takes effect.
func TestNewAtFollowsItsLevel(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	stderr := tempFile(t, "stderr")
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	logger, err := NewAt(level, stderr)
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("hidden at info")
	level.SetLevel(zap.DebugLevel)
	logger.Debug("shown at debug")

	out := readAll(t, stderr)
	if strings.Contains(out, "hidden at info") || !strings.Contains(out, "shown at debug") {
		t.Errorf("the logger did not follow its level:\n%s", out)
	}
}

func TestNewRejectsUnknownLevel(t *testing.T) {
	_, err := New("verbose", os.Stderr)
	if err == nil || !strings.Contains(err.Error(), `log_level "verbose"`) || !strings.Contains(err.Error(), "debug, info, warn or error") {
		t.Fatalf("New(verbose) error = %v", err)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]string{"": "info", "debug": "debug", "INFO": "info", " warn ": "warn", "error": "error"} {
		l, err := ParseLevel(in)
		if err != nil || l.String() != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %s", in, l, err, want)
		}
	}
	for _, bad := range []string{"warning", "trace", "fatal"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
}

func TestNewUsesJournalWhenStderrIsTheJournalStream(t *testing.T) {
	stderr := tempFile(t, "stderr")
	stream := streamOf(t, stderr)
	send, got := capture(t)
	sys := system{
		getenv:    func(k string) string { return map[string]string{"JOURNAL_STREAM": stream}[k] },
		journalUp: func() bool { return true },
		send:      send,
	}
	logger, err := newLogger("debug", stderr, sys)
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("state saved", zap.String("state", "cert-pending"))

	if len(*got) != 1 || (*got)[0].priority != journal.PriDebug || (*got)[0].fields["PROVISIOND_STATE"] != "cert-pending" {
		t.Fatalf("journal got %+v", *got)
	}
	if out := readAll(t, stderr); out != "" {
		t.Fatalf("stderr also got %q", out)
	}
}

func TestNewFallsBackToConsole(t *testing.T) {
	tests := []struct {
		name      string
		stream    string // "match" means stderr's own device and inode
		journalUp bool
	}{
		{"journald socket missing", "match", false},
		{"stderr redirected elsewhere", "1:2", true},
		{"not under systemd", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr := tempFile(t, "stderr")
			stream := tt.stream
			if stream == "match" {
				stream = streamOf(t, stderr)
			}
			send, got := capture(t)
			sys := system{
				getenv:    func(string) string { return stream },
				journalUp: func() bool { return tt.journalUp },
				send:      send,
			}
			logger, err := newLogger("info", stderr, sys)
			if err != nil {
				t.Fatal(err)
			}
			logger.Info("still logged")
			if len(*got) != 0 {
				t.Fatalf("sent to journald: %+v", *got)
			}
			if out := readAll(t, stderr); !strings.Contains(out, "still logged") {
				t.Fatalf("stderr = %q", out)
			}
		})
	}
}
