package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// streamOf returns the JOURNAL_STREAM value systemd would set for f.
func streamOf(t *testing.T, f *os.File) string {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func tempFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestIsJournalStream(t *testing.T) {
	f := tempFile(t, "stderr")
	other := tempFile(t, "other")
	tests := []struct {
		name, value string
		want        bool
	}{
		{"match", streamOf(t, f), true},
		{"unset", "", false},
		{"another file", streamOf(t, other), false},
		{"malformed", "journal", false},
	}
	for _, tt := range tests {
		if got := IsJournalStream(f, tt.value); got != tt.want {
			t.Errorf("%s: IsJournalStream(%q) = %v, want %v", tt.name, tt.value, got, tt.want)
		}
	}
	if IsJournalStream(nil, streamOf(t, f)) {
		t.Error("nil file matched")
	}
}
