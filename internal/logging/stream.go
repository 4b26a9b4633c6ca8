package logging

import (
	"fmt"
	"os"
	"syscall"
)

// IsJournalStream reports whether f is the stream systemd connected to the
// journal, named by JOURNAL_STREAM ("device:inode"). A shell redirect or a
// pipe started from the service breaks the match, so logs then stay on f as
// the caller expects.
func IsJournalStream(f *os.File, journalStream string) bool {
	if f == nil || journalStream == "" {
		return false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(journalStream, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	// Dev and Ino are not uint64 on every platform.
	return uint64(st.Dev) == dev && uint64(st.Ino) == ino
}
