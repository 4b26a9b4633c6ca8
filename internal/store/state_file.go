package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"unicode/utf8"

	"github.com/provisiond/provisiond/internal/smallfile"
)

// CorruptError reports a state file that cannot be trusted: unreadable JSON,
// an unknown format version or an unknown phase. The daemon stops on it
// rather than silently starting over, which could orphan a certificate or
// lose a key.
type CorruptError struct {
	File string
	Err  error
}

func (e *CorruptError) Error() string {
	var newer *NewerFormatError
	if errors.As(e.Err, &newer) {
		// Not corrupt, and moving it aside would lose the identity.
		return fmt.Sprintf("state file %s is from a newer provisiond: %v; "+
			"install that release again (the file is left as it is)", e.File, e.Err)
	}
	return fmt.Sprintf("state file %s is corrupt: %v; "+
		"move it aside to start over as unprovisioned (progress saved in it is lost)", e.File, e.Err)
}

// NewerFormatError is a state file in a format version above StateVersion,
// written by a newer provisiond after a downgrade: it is refused (exit 65)
// and kept, never started over.
type NewerFormatError struct{ Version int }

func (e *NewerFormatError) Error() string {
	return fmt.Sprintf("format version %d (this provisiond reads version %d)", e.Version, StateVersion)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// LoadState reads the state file. A missing file means a device never
// provisioned: State{Version: StateVersion, Phase: Unprovisioned}. A corrupt
// file, an unknown version or an unknown phase gives a *CorruptError naming
// the file.
func LoadState(f Files) (State, error) {
	data, err := f.Read(StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Version: StateVersion, Phase: Unprovisioned}, nil
	}
	var tooLarge *smallfile.TooLargeError
	if errors.As(err, &tooLarge) {
		// Not what the daemon writes: refused and kept, as any corrupt state.
		return State{}, &CorruptError{File: f.Path(StateFile), Err: tooLarge}
	}
	if err != nil {
		return State{}, fmt.Errorf("read state: %w", err)
	}
	s, err := decodeState(data)
	if err != nil {
		return State{}, &CorruptError{File: f.Path(StateFile), Err: err}
	}
	return s, nil
}

// SaveState atomically replaces the state file (0600: it holds the
// ownership token). A zero Version is filled in; a state LoadState would
// reject is refused.
func SaveState(f Files, s State) error {
	if s.Version == 0 {
		s.Version = StateVersion
	}
	if err := checkState(s); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return f.Write(StateFile, append(data, '\n'), 0o600)
}

func decodeState(data []byte) (State, error) {
	// The version is checked first so that a file from a newer provisiond is
	// reported as such, not as a type mismatch in some field.
	var head struct {
		Version *json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return State{}, jsonError(err)
	}
	if head.Version == nil {
		return State{}, errors.New("no version field")
	}
	var version int
	if err := json.Unmarshal(*head.Version, &version); err != nil {
		return State{}, fmt.Errorf("version: want a number, got %s", quoteShort(string(*head.Version)))
	}
	if version > StateVersion {
		return State{}, &NewerFormatError{Version: version}
	}
	if version != StateVersion {
		return State{}, fmt.Errorf("unknown version %d (this provisiond reads version %d)", version, StateVersion)
	}
	var s struct {
		State
		// Waiting is how a provisiond before lastErrorKind saved a clock
		// wait ("a plausible clock"); a device upgraded in the field
		// resumes it as such.
		Waiting string `json:"waiting"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, jsonError(err)
	}
	if s.Waiting != "" && s.LastErrorKind == "" {
		s.LastErrorKind = KindClock
	}
	if err := checkState(s.State); err != nil {
		return State{}, err
	}
	return s.State, nil
}

// checkState checks what a resumed daemon relies on.
func checkState(s State) error {
	if s.Version != StateVersion {
		return fmt.Errorf("unknown version %d (this provisiond writes version %d)", s.Version, StateVersion)
	}
	switch s.Phase {
	case Unprovisioned, CertPending, Registered:
	case "":
		return errors.New("state: missing")
	default:
		return fmt.Errorf("state: unknown phase %s", quoteShort(string(s.Phase)))
	}
	if s.Identity < 0 {
		return fmt.Errorf("identity: must not be negative, got %d", s.Identity)
	}
	if s.Attempts < 0 {
		return fmt.Errorf("attempts: must not be negative, got %d", s.Attempts)
	}
	for _, f := range []struct{ field, name string }{
		{"keyFile", s.KeyFile},
		{"certificateFile", s.CertificateFile},
	} {
		if f.name != "" && checkName(f.name) != nil {
			return fmt.Errorf("%s: %s is not a path relative to the state directory", f.field, quoteShort(f.name))
		}
	}
	return nil
}

// jsonError describes a JSON error without quoting the file's content, which
// may hold the ownership token.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return fmt.Errorf("want a JSON object, got %s", typ.Value)
		}
		return fmt.Errorf("%s: want %s, got %s", field, typ.Type, typ.Value)
	default:
		// For example a time that is not RFC 3339; the decoder's message
		// would quote the value.
		return errors.New("a field holds a value of the wrong form")
	}
}

// quoteShort quotes a value from the file for an error, cut short so that
// a garbled file does not flood the log.
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
