package logging

import (
	"fmt"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger at level (debug, info, warn or error; empty means
// info) writing to journald when stderr is connected to the journal and
// journald is reachable, and to stderr otherwise.
func New(level string, stderr *os.File) (*zap.Logger, error) {
	return newLogger(level, stderr, host)
}

// NewAt is New at a level the caller may change while the logger runs, as
// the daemon does when a config reload changes log_level.
func NewAt(level zap.AtomicLevel, stderr *os.File) (*zap.Logger, error) {
	return newLoggerAt(level, stderr, host)
}

// system is what New needs from the host, injected by tests.
type system struct {
	getenv    func(string) string
	journalUp func() bool
	send      SendFunc
}

var host = system{getenv: os.Getenv, journalUp: journal.Enabled, send: journal.Send}

func newLogger(level string, stderr *os.File, sys system) (*zap.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	return newLoggerAt(lvl, stderr, sys)
}

func newLoggerAt(lvl zapcore.LevelEnabler, stderr *os.File, sys system) (*zap.Logger, error) {
	if stderr == nil {
		return nil, fmt.Errorf("logging: no stderr to write to")
	}
	out := zapcore.Lock(stderr)
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(consoleEncoderConfig()), out, lvl)
	if IsJournalStream(stderr, sys.getenv("JOURNAL_STREAM")) && sys.journalUp() {
		// The console core stays behind the journal one so that an entry
		// journald refuses still reaches the journal through stderr.
		core = NewJournalCore(lvl, sys.send, core)
	}
	return zap.New(core,
		zap.ErrorOutput(out),
		zap.AddCaller(),
		zap.AddStacktrace(zapcore.DPanicLevel),
	), nil
}

// ParseLevel accepts the config's log_level values: debug, info, warn, error.
// Empty means info.
func ParseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return zapcore.DebugLevel, nil
	case "", "info":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return zapcore.InfoLevel, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
}

// consoleEncoderConfig is a one-line human-readable format with ISO 8601 times.
func consoleEncoderConfig() zapcore.EncoderConfig {
	cfg := zap.NewDevelopmentEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.EncodeLevel = zapcore.CapitalLevelEncoder
	return cfg
}
