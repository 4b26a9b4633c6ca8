package template

import (
	"fmt"
	"os"
	"path/filepath"
)

// Loaded is one template file and its settings.
type Loaded struct {
	Name     string
	Template *Template
	Settings Settings
}

// LoadDir reads every <Name>.json (and optional <Name>.settings.json) in dir. Names must
// be 1-36 characters of [0-9A-Za-z_-]. Any bad file fails the whole load with an error
// naming it, so that a typo never leaves a template silently missing. Other files and
// folders are ignored.
func LoadDir(dir string) (map[string]*Loaded, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	out := map[string]*Loaded{}
	var settingsFiles []string
	for _, ent := range entries {
		fname := ent.Name()
		if ent.IsDir() {
			continue
		}
		path := filepath.Join(dir, fname)
		if _, ok := nameOfSettingsFile(fname); ok {
			settingsFiles = append(settingsFiles, fname)
			continue
		}
		name, ok := NameOfBodyFile(fname)
		if !ok {
			continue
		}
		if !ValidTemplateName(name) {
			return nil, &ParseError{File: path, Message: "invalid template name (1-36 characters of [0-9A-Za-z_-])"}
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		t, err := Parse(path, body)
		if err != nil {
			return nil, err
		}
		out[name] = &Loaded{Name: name, Template: t, Settings: DefaultSettings()}
	}
	for _, fname := range settingsFiles {
		path := filepath.Join(dir, fname)
		name, _ := nameOfSettingsFile(fname)
		l, ok := out[name]
		if !ok {
			return nil, &ParseError{File: path, Message: "settings for a template that does not exist (no " +
				filepath.Base(BodyFile(dir, name)) + " beside it)"}
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		if l.Settings, err = ParseSettings(path, body); err != nil {
			return nil, err
		}
	}
	return out, nil
}
