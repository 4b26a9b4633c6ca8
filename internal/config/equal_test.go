package config

import (
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	a, err := Parse("/c.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := Parse("/c.yaml", []byte("# a comment moves every line\n\n"+base))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(moved) {
		t.Error("a comment made the configs differ")
	}
	for name, src := range map[string]string{
		"parameter":   strings.Replace(base, "serial.txt}\"\n", "serial.txt}\"\n    Other: x\n", 1),
		"retry":       base + "  max: 1m\n",
		"client id":   base + "client_id: other\n",
		"other value": base[:len(base)-len("  initial: 1s\n")] + "  initial: 2s\n",
	} {
		b, err := Parse("/c.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.Equal(b) {
			t.Errorf("%s: a changed config compares equal", name)
		}
	}
	var nilConfig *Config
	if a.Equal(nil) || !nilConfig.Equal(nil) {
		t.Error("nil handling")
	}
}
