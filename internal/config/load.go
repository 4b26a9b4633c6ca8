package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/internal/smallfile"
)

// Defaults for optional keys.
const (
	DefaultPayloadFormat     = "json"
	DefaultCertificateMethod = "csr"
	DefaultKeyType           = "ec-p256"
	DefaultStateDirectory    = "/var/lib/provisiond"
	DefaultLogLevel          = "info"
	DefaultPort              = "8883"
)

// MaxFileSize bounds the config file: a real one is a few KiB, and a
// mistaken path to a large file must be an error, not the daemon's memory.
const MaxFileSize = 1 << 20

// Load reads, defaults and validates the config file at path. Errors are
// *Error naming the file, line and field.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{File: path, Message: err.Error()}
	}
	data, err := smallfile.Read(abs, MaxFileSize)
	if err != nil {
		return nil, &Error{File: abs, Message: readError(err)}
	}
	return Parse(abs, data)
}

// Parse is Load for content already read; path names the file in errors
// and relative paths resolve against its folder.
func Parse(path string, data []byte) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, syntaxError(path, err)
	}
	// A second document would be ignored silently, hiding whatever it sets.
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, syntaxError(path, err)
		}
		return nil, &Error{File: path, Line: extra.Line, Message: "only one YAML document is allowed"}
	}
	p := &parser{file: path, dir: filepath.Dir(path), lines: map[string]int{}}
	c, err := p.config(&doc)
	if err != nil {
		return nil, err
	}
	c.Path = path
	c.lines = p.lines
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml.v3's "yaml: line 3: message" into an *Error.
func syntaxError(path string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &Error{File: path, Message: "invalid YAML: " + msg}
}

func readError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Sprintf("cannot read the config file: %v", pe.Err)
	}
	return err.Error()
}
