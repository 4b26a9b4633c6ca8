package template

import (
	"bytes"
	"encoding/json"
	"net/url"
)

// Settings sit beside a template in <Name>.settings.json; a missing file, or a missing
// "enabled", means enabled with no hook.
type Settings struct {
	Enabled             bool  `json:"enabled"`
	PreProvisioningHook *Hook `json:"preProvisioningHook,omitempty"`
}

// Hook is a pre-provisioning hook, called over HTTP.
type Hook struct {
	URL string `json:"url"`
}

// DefaultSettings are the settings of a template without a settings file.
func DefaultSettings() Settings { return Settings{Enabled: true} }

// ParseSettings reads a settings file. Unknown fields and a hook URL that is not an
// absolute http or https URL are refused, naming the file and the field.
func ParseSettings(file string, body []byte) (Settings, error) {
	var raw struct {
		Enabled *bool `json:"enabled"`
		Hook    *Hook `json:"preProvisioningHook"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Settings{}, &ParseError{File: file, Message: "invalid settings: " + err.Error()}
	}
	if dec.More() {
		return Settings{}, &ParseError{File: file, Message: "invalid settings: data after the JSON object"}
	}
	s := DefaultSettings()
	if raw.Enabled != nil {
		s.Enabled = *raw.Enabled
	}
	if raw.Hook != nil {
		u, err := url.Parse(raw.Hook.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Settings{}, &ParseError{File: file, Path: "preProvisioningHook.url",
				Message: "expected an absolute http or https URL"}
		}
		s.PreProvisioningHook = &Hook{URL: raw.Hook.URL}
	}
	return s, nil
}
