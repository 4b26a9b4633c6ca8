package logging

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

type sent struct {
	message  string
	priority journal.Priority
	fields   map[string]string
}

// capture records what would go to journald and checks every name the way
// journald does.
func capture(t *testing.T) (SendFunc, *[]sent) {
	var got []sent
	return func(msg string, p journal.Priority, fields map[string]string) error {
		for name := range fields {
			if !validJournalName(name) {
				t.Errorf("invalid journal field name %q", name)
			}
		}
		got = append(got, sent{msg, p, maps.Clone(fields)})
		return nil
	}, &got
}

func TestJournalCoreFields(t *testing.T) {
	send, got := capture(t)
	logger := zap.New(NewJournalCore(zapcore.InfoLevel, send, nil), zap.AddCaller())

	gw := logger.Named("statemachine").With(zap.String("thingName", "gw-0001"))
	gw.Debug("not enabled")
	gw.Info("registered",
		zap.String("state", "registered"),
		zap.String("certificateId", "abc123"),
		zap.Int("attempts", 3),
		zap.Duration("backoff", 1500*time.Millisecond),
		zap.Time("tokenExpiresAt", time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)),
		zap.Bool("fromCache", false),
		zap.Strings("topics", []string{"a", "b"}),
		zap.Error(errors.New("dial tcp: refused")),
	)

	if len(*got) != 1 {
		t.Fatalf("%d entries sent, want 1 (debug is below the level)", len(*got))
	}
	e := (*got)[0]
	if e.message != "registered" || e.priority != journal.PriInfo {
		t.Fatalf("message %q priority %d", e.message, e.priority)
	}
	want := map[string]string{
		"SYSLOG_IDENTIFIER":   "provisiond",
		"PROVISIOND_LOGGER":   "statemachine",
		"THING_NAME":          "gw-0001",
		"PROVISIOND_STATE":    "registered",
		"CERTIFICATE_ID":      "abc123",
		"PROVISIOND_ATTEMPTS": "3",
		"PROVISIOND_BACKOFF":  "1.5s",
		"TOKEN_EXPIRES_AT":    "2026-11-26T13:00:00Z",
		"FROM_CACHE":          "false",
		"PROVISIOND_TOPICS":   `["a","b"]`,
		"PROVISIOND_ERROR":    "dial tcp: refused",
	}
	for k, v := range want {
		if e.fields[k] != v {
			t.Errorf("%s = %q, want %q", k, e.fields[k], v)
		}
	}
	if !strings.HasSuffix(e.fields["CODE_FILE"], "journalcore_test.go") || e.fields["CODE_LINE"] == "" ||
		!strings.HasSuffix(e.fields["CODE_FUNC"], "TestJournalCoreFields") {
		t.Errorf("caller fields: %q %q %q", e.fields["CODE_FILE"], e.fields["CODE_LINE"], e.fields["CODE_FUNC"])
	}
	if extra := len(e.fields) - len(want) - 3; extra != 0 {
		t.Errorf("unexpected fields in %v", e.fields)
	}
}

func TestJournalCoreWithDoesNotLeak(t *testing.T) {
	send, got := capture(t)
	parent := zap.New(NewJournalCore(zapcore.DebugLevel, send, nil))
	a := parent.With(zap.String("thingName", "a"))
	b := a.With(zap.String("certificateId", "b"))
	_ = a.With(zap.String("certificateId", "other")) // shares a's backing array
	parent.Info("p")
	a.Info("a")
	b.Info("b", zap.String("thingName", "override"))

	if len(*got) != 3 {
		t.Fatalf("%d entries", len(*got))
	}
	p, ea, eb := (*got)[0].fields, (*got)[1].fields, (*got)[2].fields
	if _, ok := p["THING_NAME"]; ok {
		t.Errorf("child context leaked into parent: %v", p)
	}
	if ea["THING_NAME"] != "a" || ea["CERTIFICATE_ID"] != "" {
		t.Errorf("a: %v", ea)
	}
	if eb["THING_NAME"] != "override" || eb["CERTIFICATE_ID"] != "b" {
		t.Errorf("b: %v", eb)
	}
}

func TestJournalCoreNamespaceAndObjects(t *testing.T) {
	send, got := capture(t)
	logger := zap.New(NewJournalCore(zapcore.DebugLevel, send, nil))
	logger.With(zap.Namespace("request")).Info("x",
		zap.String("topic", "t"),
		zap.Any("parameters", map[string]string{"SerialNumber": "0001"}),
		zap.Binary("raw", []byte{0xff, 0}),
	)
	f := (*got)[0].fields
	if f["PROVISIOND_REQUEST"] != `{"parameters":{"SerialNumber":"0001"},"raw":"/wA=","topic":"t"}` {
		t.Fatalf("namespace field = %q", f["PROVISIOND_REQUEST"])
	}
}

func TestJournalCoreFieldsCannotOverrideIdentity(t *testing.T) {
	send, got := capture(t)
	logger := zap.New(NewJournalCore(zapcore.DebugLevel, send, nil))
	logger.Info("x", zap.String("SYSLOG_IDENTIFIER", "evil"), zap.String("message", "m"), zap.String("_PID", "1"))
	f := (*got)[0].fields
	if f["SYSLOG_IDENTIFIER"] != "provisiond" || f["PROVISIOND_SYSLOG_IDENTIFIER"] != "evil" ||
		f["PROVISIOND_MESSAGE"] != "m" || f["PROVISIOND_PID"] != "1" {
		t.Fatalf("fields %v", f)
	}
}

func TestPriority(t *testing.T) {
	tests := map[zapcore.Level]journal.Priority{
		zapcore.DebugLevel:  journal.PriDebug,
		zapcore.InfoLevel:   journal.PriInfo,
		zapcore.WarnLevel:   journal.PriWarning,
		zapcore.ErrorLevel:  journal.PriErr,
		zapcore.DPanicLevel: journal.PriCrit,
		zapcore.PanicLevel:  journal.PriCrit,
		zapcore.FatalLevel:  journal.PriCrit,
	}
	for l, want := range tests {
		if got := priority(l); got != want {
			t.Errorf("priority(%v) = %d, want %d", l, got, want)
		}
	}
	// Through the core, at each level a daemon logs at.
	send, got := capture(t)
	logger := zap.New(NewJournalCore(zapcore.DebugLevel, send, nil))
	logger.Debug("d")
	logger.Info("i")
	logger.Warn("w")
	logger.Error("e")
	var ps []journal.Priority
	for _, e := range *got {
		ps = append(ps, e.priority)
	}
	if want := []journal.Priority{7, 6, 4, 3}; len(ps) != 4 || ps[0] != want[0] || ps[1] != want[1] || ps[2] != want[2] || ps[3] != want[3] {
		t.Fatalf("priorities %v, want %v", ps, want)
	}
}

func TestJournalCoreFallsBackWhenSendFails(t *testing.T) {
	fallback, logs := observer.New(zapcore.DebugLevel)
	calls := 0
	send := func(string, journal.Priority, map[string]string) error {
		calls++
		return errors.New("no such file or directory")
	}
	logger := zap.New(NewJournalCore(zapcore.InfoLevel, send, fallback)).With(zap.String("thingName", "gw"))
	logger.Info("one", zap.String("state", "registered"))
	logger.Warn("two")
	logger.Debug("filtered")

	if calls != 2 {
		t.Fatalf("send called %d times, want 2", calls)
	}
	all := logs.All()
	if len(all) != 3 {
		t.Fatalf("fallback got %d entries, want a notice and two entries: %v", len(all), all)
	}
	if all[0].Level != zapcore.WarnLevel || !strings.Contains(all[0].Message, "no such file or directory") {
		t.Errorf("notice = %+v", all[0])
	}
	if all[1].Message != "one" || all[1].ContextMap()["thingName"] != "gw" || all[1].ContextMap()["state"] != "registered" {
		t.Errorf("first entry = %+v", all[1])
	}
	if all[2].Message != "two" || all[2].ContextMap()["thingName"] != "gw" {
		t.Errorf("second entry = %+v", all[2])
	}
}

func TestJournalCoreWithoutFallbackReportsError(t *testing.T) {
	boom := errors.New("boom")
	core := NewJournalCore(zapcore.InfoLevel, func(string, journal.Priority, map[string]string) error { return boom }, nil)
	if err := core.Write(zapcore.Entry{Message: "x"}, nil); !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
}
