package p11key

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The forms of pkcs11.pin.
const (
	PINFilePrefix       = "file:"
	PINCredentialPrefix = "credential:"
	PINNone             = "none"
)

// PINSource is a parsed pkcs11.pin: a file, a systemd credential, or no
// PIN (a token without login, or one with its own PIN pad).
type PINSource struct {
	File       string // absolute path of file:PATH
	Credential string // NAME of credential:NAME
}

// None reports whether the source is pkcs11.pin: none.
func (s PINSource) None() bool { return s.File == "" && s.Credential == "" }

// String is the setting's value, for messages: it names where the PIN is,
// never the PIN.
func (s PINSource) String() string {
	switch {
	case s.File != "":
		return PINFilePrefix + s.File
	case s.Credential != "":
		return PINCredentialPrefix + s.Credential
	}
	return PINNone
}

// ParsePINSource parses pkcs11.pin. A file path must be absolute.
func ParsePINSource(spec string) (PINSource, error) {
	switch {
	case spec == PINNone:
		return PINSource{}, nil
	case strings.HasPrefix(spec, PINFilePrefix):
		path := strings.TrimPrefix(spec, PINFilePrefix)
		if !filepath.IsAbs(path) {
			return PINSource{}, fmt.Errorf("file:PATH needs an absolute path, got %q", spec)
		}
		return PINSource{File: filepath.Clean(path)}, nil
	case strings.HasPrefix(spec, PINCredentialPrefix):
		name := strings.TrimPrefix(spec, PINCredentialPrefix)
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return PINSource{}, fmt.Errorf("credential:NAME needs a credential name (no '/'), as in LoadCredentialEncrypted=NAME:..., got %q", spec)
		}
		return PINSource{Credential: name}, nil
	}
	// The value is not quoted: it may be the PIN itself.
	return PINSource{}, errors.New("must be file:PATH, credential:NAME or none; the PIN itself goes in that file or credential, never in the config")
}

// Path is the file that holds the PIN: the file, or the credential in
// $CREDENTIALS_DIRECTORY (set by systemd for a unit with
// LoadCredential[Encrypted]=NAME:...).
func (s PINSource) Path() (string, error) {
	if s.Credential == "" {
		return s.File, nil
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", &Error{Setting: SettingPIN, Kind: KindConfig, Msg: "credential:" + s.Credential +
			" needs $CREDENTIALS_DIRECTORY, which systemd sets for a unit with LoadCredentialEncrypted=" + s.Credential + ":...; it is not set"}
	}
	return filepath.Join(dir, s.Credential), nil
}

// read returns the PIN, without one trailing newline (echo writes one). A
// missing or empty file is a configuration error; its content is never
// quoted.
func (s PINSource) read() ([]byte, error) {
	if s.None() {
		return nil, nil
	}
	path, err := s.Path()
	if err != nil {
		return nil, err
	}
	pin, err := os.ReadFile(path)
	if err != nil {
		kind := KindConfig
		if errors.Is(err, os.ErrNotExist) {
			kind = KindMissing
		}
		return nil, &Error{Setting: SettingPIN, Kind: kind, Msg: "cannot read the PIN from " + s.String() + ": " + pathMessage(err), Err: err}
	}
	pin = bytes.TrimSuffix(pin, []byte("\n"))
	pin = bytes.TrimSuffix(pin, []byte("\r"))
	if len(pin) == 0 {
		return nil, &Error{Setting: SettingPIN, Kind: KindConfig, Msg: s.String() + " is empty; for a token without a PIN write pkcs11.pin: none"}
	}
	return pin, nil
}
