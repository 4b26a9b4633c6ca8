package store

import "testing"

// BenchmarkWriteState measures the storage write path the daemon takes on
// every transition: JSON, temp file, fsync, rename, folder fsync.
func BenchmarkWriteState(b *testing.B) {
	d, err := OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s := fullState()
	b.ReportAllocs()
	for b.Loop() {
		s.Attempts++
		if err := SaveState(d, s); err != nil {
			b.Fatal(err)
		}
	}
}
