package smallfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestHostileReadRefusesFIFOsDevicesAndLargeFiles(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	big := filepath.Join(dir, "big")
	fifo := filepath.Join(dir, "fifo")
	if err := os.WriteFile(ok, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(ok, 5); err != nil || string(data) != "hello" {
		t.Fatalf("Read(ok) = %q, %v", data, err)
	}
	var tooLarge *TooLargeError
	for _, tc := range []struct {
		path string
		is   func(error) bool
		says string
	}{
		{big, func(err error) bool { return errors.As(err, &tooLarge) }, "larger than 1 KiB"},
		{ok + ".missing", func(err error) bool { return errors.Is(err, fs.ErrNotExist) }, "no such file"},
		{fifo, func(err error) bool { return errors.Is(err, ErrNotRegular) }, "a FIFO"},
		{dir, func(err error) bool { return errors.Is(err, ErrNotRegular) }, "a folder"},
		{"/dev/zero", func(err error) bool { return errors.Is(err, ErrNotRegular) }, "a device"},
	} {
		_, err := Read(tc.path, 1024)
		if err == nil || !tc.is(err) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Read(%s): %v, want an error naming the path and saying %q", tc.path, err, tc.says)
		}
	}
}
