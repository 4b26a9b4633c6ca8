package config

import (
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary bytes as the config file: Parse must never
// panic and must report every rejection as an *Error naming the file.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		goodConfig,
		base,
		"",
		"endpoint: [\n",
		"a: &x [*x]\n",
		"template: {name: T, parameters: {A: \"${env:\"}}\n",
		"retry: {initial: 1s, max: 1ns}\n",
		"endpoint: '[::1'\n",
		"---\n---\n",
		"\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("/fuzz.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "/fuzz.yaml" {
				t.Fatalf("Parse = %v, want *Error naming the file", err)
			}
			return
		}
		if c.Endpoint == "" || c.Template.Name == "" || c.RootCA == "" {
			t.Fatalf("accepted a config without required fields: %+v", c)
		}
		if _, err := c.Parameters(newFakeFacts()); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parameters = %v, want *Error", err)
			}
		}
	})
}
