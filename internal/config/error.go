package config

import "fmt"

// Error is a problem in the config file, located as precisely as known:
// "/etc/provisiond/config.yaml:7: payload_format: must be json or cbor, got \"xml\"".
// Line is 0 and Field empty when unknown.
type Error struct {
	File    string
	Line    int
	Field   string
	Message string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return loc + ": " + e.Message
	}
	return loc + ": " + e.Field + ": " + e.Message
}
