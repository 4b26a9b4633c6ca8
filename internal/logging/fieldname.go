package logging

import "strings"

// prefix marks fields that are ours where a bare name would be ambiguous.
const prefix = "PROVISIOND_"

// maxFieldName is journald's limit; longer names are dropped by it.
const maxFieldName = 64

// reserved are journal fields with a meaning of their own (see
// systemd.journal-fields(7)); a log field never overrides them.
var reserved = map[string]bool{
	"MESSAGE_ID": true, "CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true,
	"SYSLOG_FACILITY": true, "SYSLOG_IDENTIFIER": true, "SYSLOG_PID": true,
	"SYSLOG_TIMESTAMP": true, "SYSLOG_RAW": true, "INVOCATION_ID": true,
	"USER_INVOCATION_ID": true, "USER_UNIT": true, "OBJECT_PID": true,
	"OBJECT_UID": true, "OBJECT_GID": true, "OBJECT_COMM": true, "OBJECT_EXE": true,
	"OBJECT_CMDLINE": true, "OBJECT_SYSTEMD_UNIT": true, "OBJECT_SYSTEMD_USER_UNIT": true,
	"OBJECT_SYSTEMD_INVOCATION_ID": true, "COREDUMP_UNIT": true, "COREDUMP_USER_UNIT": true,
}

// journalFieldName turns a zap field key into a valid journal field name:
// camelCase and other separators become UPPER_SNAKE_CASE ("thingName" →
// THING_NAME, "certificateId" → CERTIFICATE_ID). Single words, names that
// would start with a digit and names journald gives a meaning get the
// PROVISIOND_ prefix ("state" → PROVISIOND_STATE), so a query by field finds
// only this daemon's entries.
func journalFieldName(key string) string {
	name := upperSnake(key)
	if name == "" {
		name = "FIELD"
	}
	if !strings.Contains(name, "_") || isDigit(name[0]) || reserved[name] {
		name = prefix + name
	}
	if len(name) > maxFieldName {
		name = strings.TrimRight(name[:maxFieldName], "_")
	}
	return name
}

// upperSnake maps key to [A-Z0-9_], splitting words at case changes
// ("HTTPStatus" → HTTP_STATUS) and at any other character, without leading,
// trailing or doubled underscores.
func upperSnake(key string) string {
	var b strings.Builder
	pendingSep := false
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isLetter(c) && !isDigit(c) {
			pendingSep = true
			continue
		}
		if isUpper(c) && i > 0 {
			prev := key[i-1]
			nextLower := i+1 < len(key) && isLower(key[i+1])
			if isLower(prev) || isDigit(prev) || (isUpper(prev) && nextLower) {
				pendingSep = true
			}
		}
		if pendingSep && b.Len() > 0 {
			b.WriteByte('_')
		}
		pendingSep = false
		if isLower(c) {
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isLetter(c byte) bool { return isLower(c) || isUpper(c) }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
