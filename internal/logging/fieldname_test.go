package logging

import (
	"strings"
	"testing"
)

// validJournalName mirrors journald's own check: [A-Z0-9_], not starting
// with an underscore or a digit, at most 64 bytes.
func validJournalName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '_' || isDigit(name[0]) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isUpper(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

func TestJournalFieldName(t *testing.T) {
	tests := map[string]string{
		// The names operators query by.
		"state":         "PROVISIOND_STATE",
		"thingName":     "THING_NAME",
		"certificateId": "CERTIFICATE_ID",
		// Word splitting.
		"tokenExpiresAt": "TOKEN_EXPIRES_AT",
		"clientID":       "CLIENT_ID",
		"HTTPStatus":     "HTTP_STATUS",
		"x509Cert":       "X509_CERT",
		"payload-format": "PAYLOAD_FORMAT",
		"next.attempt":   "NEXT_ATTEMPT",
		"a..b":           "A_B",
		"already_SNAKE":  "ALREADY_SNAKE",
		"café name":      "CAF_NAME",
		// Single words and fields journald owns get the prefix.
		"error":            "PROVISIOND_ERROR",
		"message":          "PROVISIOND_MESSAGE",
		"priority":         "PROVISIOND_PRIORITY",
		"syslogIdentifier": "PROVISIOND_SYSLOG_IDENTIFIER",
		"CODE_FILE":        "PROVISIOND_CODE_FILE",
		"messageId":        "PROVISIOND_MESSAGE_ID",
		// Invalid starts are sanitised.
		"_systemd_unit": "SYSTEMD_UNIT",
		"__cursor":      "PROVISIOND_CURSOR",
		"1st_try":       "PROVISIOND_1ST_TRY",
		"":              "PROVISIOND_FIELD",
		"---":           "PROVISIOND_FIELD",
		"ü":             "PROVISIOND_FIELD",
	}
	for key, want := range tests {
		got := journalFieldName(key)
		if got != want {
			t.Errorf("journalFieldName(%q) = %q, want %q", key, got, want)
		}
		if !validJournalName(got) {
			t.Errorf("journalFieldName(%q) = %q is not a valid journal field name", key, got)
		}
	}
}

func TestJournalFieldNameLength(t *testing.T) {
	long := strings.Repeat("VeryLong", 20)
	got := journalFieldName(long)
	if len(got) > 64 || !validJournalName(got) || !strings.HasPrefix(got, "VERY_LONG_VERY_LONG") {
		t.Fatalf("journalFieldName(long) = %q (%d bytes)", got, len(got))
	}
}
