package config

import (
	"strings"
	"testing"
)

// A billion-laughs config (aliases nested ten deep, each repeating the one
// below ten times, 10^10 strings if expanded) is refused at once with an
// error naming the file: the anchors' key is checked before any alias is
// followed.
func TestHostileBillionLaughsConfig(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.Replace(base, "    Serial: \"${file:serial.txt}\"\n", "", 1))
	b.WriteString("laughs:\n")
	b.WriteString("    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("    a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("client_id: *a9\n")
	_, err := Parse("/etc/provisiond/config.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "config.yaml") {
		t.Fatalf("a billion-laughs config: %v, want an error naming the file", err)
	}
}
