// Package proc reads what a process costs from /proc: memory, CPU time and
// context switches, summed over all of its threads.
package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const ClockTicks = 100

// Sample is one reading of a process.
type Sample struct {
	VmRSSKiB, VmHWMKiB int64
	// Ticks is utime+stime of the whole process, in 1/ClockTicks seconds.
	Ticks int64
	// RunNs is the time all threads spent on a CPU (schedstat), in ns: the
	// same as Ticks, with a finer grain.
	RunNs int64
	// WaitNs is the time threads were runnable but waited for a CPU
	// (schedstat): on a shared machine, the cost of sharing it.
	WaitNs int64
	// Voluntary and Involuntary context switches, summed over threads: every
	// wake-up of a sleeping thread counts one voluntary switch when it sleeps again.
	Voluntary, Involuntary int64
	Threads                int
}

// Read samples process pid.
func Read(pid int) (Sample, error) {
	var s Sample
	base := filepath.Join("/proc", strconv.Itoa(pid))
	status, err := fields(filepath.Join(base, "status"))
	if err != nil {
		return s, err
	}
	s.VmRSSKiB = kib(status["VmRSS"])
	s.VmHWMKiB = kib(status["VmHWM"])
	stat, err := os.ReadFile(filepath.Join(base, "stat"))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("%s/stat: no command name", base)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("%s/stat: %d fields", base, len(f))
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.Ticks = ut + st
	tasks, err := os.ReadDir(filepath.Join(base, "task"))
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		tdir := filepath.Join(base, "task", t.Name())
		ts, err := fields(filepath.Join(tdir, "status"))
		if err != nil {
			continue // the thread ended
		}
		s.Threads++
		s.Voluntary += num(ts["voluntary_ctxt_switches"])
		s.Involuntary += num(ts["nonvoluntary_ctxt_switches"])
		if ss, err := os.ReadFile(filepath.Join(tdir, "schedstat")); err == nil {
			// schedstat: time on CPU, time waiting for a CPU, time slices.
			if sf := strings.Fields(string(ss)); len(sf) > 1 {
				s.RunNs += num(sf[0])
				s.WaitNs += num(sf[1])
			}
		}
	}
	return s, nil
}

func fields(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, sc.Err()
}

func kib(v string) int64 { return num(strings.TrimSuffix(v, " kB")) }

func num(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}
