package logging

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap/zapcore"
)

// Identifier is the SYSLOG_IDENTIFIER of every entry, as `journalctl -t` uses it.
const Identifier = "provisiond"

// SendFunc delivers one entry to journald; journal.Send in production.
type SendFunc func(message string, priority journal.Priority, fields map[string]string) error

// journalCore is a zapcore.Core writing natively to journald.
type journalCore struct {
	zapcore.LevelEnabler
	send     SendFunc
	fallback zapcore.Core    // gets entries journald refused; may be nil
	context  []zapcore.Field // from With, encoded on each write so namespaces nest
	warned   *atomic.Bool    // the switch to the fallback has been announced
}

// NewJournalCore returns a core that sends each entry through send with
// MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=provisiond, the caller as CODE_FILE,
// CODE_LINE and CODE_FUNC, and each field under its journal name (see
// journalFieldName). When send fails the entry goes to fallback instead, if
// there is one, so that no log line is lost.
func NewJournalCore(enab zapcore.LevelEnabler, send SendFunc, fallback zapcore.Core) zapcore.Core {
	return &journalCore{LevelEnabler: enab, send: send, fallback: fallback, warned: new(atomic.Bool)}
}

func (c *journalCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.context = append(c.context[:len(c.context):len(c.context)], fields...)
	if c.fallback != nil {
		clone.fallback = c.fallback.With(fields)
	}
	return &clone
}

func (c *journalCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *journalCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	err := c.send(ent.Message, priority(ent.Level), c.journalFields(ent, fields))
	if err == nil || c.fallback == nil {
		return err
	}
	if !c.warned.Swap(true) {
		notice := zapcore.Entry{Level: zapcore.WarnLevel, Time: ent.Time, LoggerName: ent.LoggerName,
			Message: "journald refused a log entry; writing it to stderr: " + err.Error()}
		_ = c.fallback.Write(notice, nil)
	}
	return c.fallback.Write(ent, fields)
}

// Sync has nothing to flush: each entry is one datagram.
func (c *journalCore) Sync() error { return nil }

// journalFields maps the entry's context and fields to journal fields.
func (c *journalCore) journalFields(ent zapcore.Entry, fields []zapcore.Field) map[string]string {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.context {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	vars := make(map[string]string, len(enc.Fields)+6)
	for k, v := range enc.Fields {
		vars[journalFieldName(k)] = fieldValue(v)
	}
	// Set last so that a field cannot override them.
	vars["SYSLOG_IDENTIFIER"] = Identifier
	if ent.LoggerName != "" {
		vars[prefix+"LOGGER"] = ent.LoggerName
	}
	if ent.Caller.Defined {
		vars["CODE_FILE"] = ent.Caller.File
		vars["CODE_LINE"] = strconv.Itoa(ent.Caller.Line)
		if ent.Caller.Function != "" {
			vars["CODE_FUNC"] = ent.Caller.Function
		}
	}
	if ent.Stack != "" {
		vars[prefix+"STACKTRACE"] = ent.Stack
	}
	return vars
}

// fieldValue renders one encoded field: scalars as text, times in RFC 3339,
// bytes in base64, objects and arrays as JSON.
func fieldValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case time.Duration:
		return v.String()
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr,
		float32, float64, complex64, complex128:
		return fmt.Sprint(v)
	case nil:
		return ""
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// priority maps zap levels to syslog priorities. Nothing is logged as
// emergency or alert: those are for the whole system and reach every terminal.
func priority(l zapcore.Level) journal.Priority {
	switch {
	case l <= zapcore.DebugLevel:
		return journal.PriDebug
	case l == zapcore.InfoLevel:
		return journal.PriInfo
	case l == zapcore.WarnLevel:
		return journal.PriWarning
	case l == zapcore.ErrorLevel:
		return journal.PriErr
	}
	return journal.PriCrit
}
