package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperStateWriter is not a test: TestSIGKILLDuringWrites runs the test
// binary with it to get a process that saves state in a loop until killed.
func TestHelperStateWriter(t *testing.T) {
	dir := os.Getenv("STORE_TEST_WRITER_DIR")
	if dir == "" {
		return
	}
	d, err := OpenDir(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	s := fullState()
	for i := 1; i <= 100000; i++ {
		s.Attempts = i
		// A key written beside the state, as the daemon does, so that a kill
		// can also land inside a subfolder write.
		if err := d.Write("identities/1/private.key", []byte(strings.Repeat("k", i%512)), 0o600); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		if err := SaveState(d, s); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("saved", i)
	}
	os.Exit(0)
}

// A process killed at an arbitrary instant while saving leaves a state
// file that loads, holding at least the last save it reported; reopening
// the folder removes the temp file it may have left.
func TestSIGKILLDuringWrites(t *testing.T) {
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperStateWriter$")
		cmd.Env = append(os.Environ(), "STORE_TEST_WRITER_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		last := 0
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				t.Fatalf("writer: %s", line)
			}
			if n, ok := strings.CutPrefix(line, "saved "); ok {
				last, _ = strconv.Atoi(n)
			}
			if last >= 20*(round+1) {
				cmd.Process.Kill()
				break
			}
		}
		cmd.Wait()
		cancel()
		if last == 0 {
			t.Fatal("the writer saved nothing")
		}

		d, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := LoadState(d)
		if err != nil {
			t.Fatalf("round %d: LoadState after SIGKILL: %v", round, err)
		}
		if s.Attempts < last {
			t.Fatalf("round %d: state holds attempt %d, but save %d was reported", round, s.Attempts, last)
		}
		for _, sub := range []string{dir, d.Path("identities/1")} {
			for _, name := range listDir(t, sub) {
				if strings.Contains(name, ".tmp-") {
					t.Fatalf("round %d: temp file %s left after reopening", round, name)
				}
			}
		}
	}
}

func TestOpenDirRemovesStaleTemps(t *testing.T) {
	d := openTestDir(t).(*Dir)
	mustWrite(t, d, "state.json", []byte("{}"), 0o600)
	mustWrite(t, d, "identities/2/private.key", []byte("k"), 0o600)
	for _, name := range []string{".state.json.tmp-12345", "identities/2/.private.key.tmp-987"} {
		if err := os.WriteFile(d.Path(name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Look-alikes that are not ours stay.
	mustWrite(t, d, "notes.tmp-1", []byte("x"), 0o600)
	mustWrite(t, d, ".hidden", []byte("x"), 0o600)

	if _, err := OpenDir(d.Path("")); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(append(listDir(t, d.Path("")), listDir(t, d.Path("identities/2"))...), ",")
	if want := ".hidden,identities,notes.tmp-1,state.json,private.key"; got != want {
		t.Fatalf("after OpenDir: %s, want %s", got, want)
	}
}
