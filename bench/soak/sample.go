package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sample is one second's reading of the daemon.
type sample struct {
	at         time.Duration // since the start
	rssKiB     int
	fds        int
	goroutines int
	stateBytes int64
	orphans    int
}

// sampleEvery reads the daemon every interval until ctx ends.
func sampleEvery(ctx context.Context, d *daemon, state string, interval time.Duration) []sample {
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	var out []sample
	for {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		out = append(out, sample{
			at:         time.Since(start),
			rssKiB:     rssKiB(d.pid()),
			fds:        openFDs(d.pid()),
			goroutines: d.goroutines(),
			stateBytes: folderBytes(state),
			orphans:    orphans(state),
		})
	}
}

// rssKiB is VmRSS from /proc/PID/status; -1 when unreadable.
func rssKiB(pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func openFDs(pid int) int {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// folderBytes is the total size of the regular files under dir.
func folderBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// orphans counts state.json's orphans other than identities retired by
// rotation: certificates the device obtained and abandoned (the list is
// capped, so this is the recent ones).
func orphans(state string) int {
	data, err := os.ReadFile(filepath.Join(state, "state.json"))
	if err != nil {
		return 0
	}
	var s struct {
		Orphans []struct {
			Reason string `json:"reason"`
		} `json:"orphans"`
	}
	if json.Unmarshal(data, &s) != nil {
		return 0
	}
	n := 0
	for _, o := range s.Orphans {
		if !strings.HasPrefix(o.Reason, "rotation due") {
			n++
		}
	}
	return n
}
