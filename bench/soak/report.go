package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// report is a finished run, judged by judge.
type report struct {
	opts      options
	samples   []sample
	kills     int
	drops     int
	stalls    int
	issued    int
	watch     watchResult
	daemonLog string
	exited    error
}

// A series grows when its least-squares line rises by more than its bound
// over the judged part of the run. The bounds are above what churn moves
// (a connect in progress holds a few goroutines and two descriptors; the
// state folder holds the current and the retired identity; Go's heap
// breathes by a few MiB) and far below what a leak of one thing per
// rotation or per fleetsim restart adds: a run rotates a hundred times in
// ten minutes and restarts fleetsim dozens of times.
var bounds = []struct {
	name  string
	value func(sample) float64
	bound float64
	unit  string
}{
	{"goroutines", func(s sample) float64 { return float64(s.goroutines) }, 3, ""},
	{"open descriptors", func(s sample) float64 { return float64(s.fds) }, 3, ""},
	{"RSS", func(s sample) float64 { return float64(s.rssKiB) / 1024 }, 3, " MiB"},
	{"state folder", func(s sample) float64 { return float64(s.stateBytes) / 1024 }, 16, " KiB"},
}

func (r report) judge() error {
	var problems []string
	judged := r.judgedSamples()
	if len(judged) < 10 {
		return fmt.Errorf("only %d samples after the %s warm-up: run longer", len(judged), r.opts.warmup)
	}
	span := (judged[len(judged)-1].at - judged[0].at).Minutes()
	for _, b := range bounds {
		xs, ys := make([]float64, len(judged)), make([]float64, len(judged))
		for i, s := range judged {
			xs[i], ys[i] = s.at.Minutes(), b.value(s)
			if ys[i] < 0 {
				return fmt.Errorf("%s unreadable at %s", b.name, s.at.Round(time.Second))
			}
		}
		slope := leastSquaresSlope(xs, ys)
		growth := slope * span
		lo, hi := minMax(ys)
		logf("%-16s %8.1f .. %8.1f%s, slope %+.3f%s/min, %+.2f%s over the judged %.1f min (bound %g%s)",
			b.name, lo, hi, b.unit, slope, b.unit, growth, b.unit, span, b.bound, b.unit)
		if growth > b.bound {
			problems = append(problems, fmt.Sprintf("%s grew by %.2f%s over %.1f min after the warm-up (bound %g%s)",
				b.name, growth, b.unit, span, b.bound, b.unit))
		}
	}

	w := r.watch
	logf("watcher: %d reads, %d identities seen, %d reads raced a handoff, %d unusable pairs", w.reads, w.identities, w.raced, len(w.failures))
	if len(w.failures) > 0 {
		problems = append(problems, fmt.Sprintf("the watcher found %d unusable pairs, first: %s", len(w.failures), w.failures[0]))
	}
	if w.identities < 3 {
		problems = append(problems, fmt.Sprintf("only %d identities were handed over: the daemon did not rotate", w.identities))
	}

	interruptions := r.kills + r.drops + r.stalls
	surplus := r.issued - w.identities
	last := r.samples[len(r.samples)-1]
	logf("fleetsim: killed and restarted %d times; the link emulator dropped %d connections and stalled %d half-open; %d certificates issued for %d identities handed over (%d not used); %d abandoned certificates in state.json's orphans",
		r.kills, r.drops, r.stalls, r.issued, w.identities, surplus, last.orphans)
	if r.issued < 0 {
		problems = append(problems, "fleetsim's registry could not be read")
	} else if surplus > interruptions {
		problems = append(problems, fmt.Sprintf("%d certificates issued but never used, more than one per interruption (%d)", surplus, interruptions))
	}

	bad, expected, err := r.classifyLog()
	if err != nil {
		problems = append(problems, err.Error())
	}
	logf("daemon log: %d errors that are expected network failures, %d others", expected, len(bad))
	for i, line := range bad {
		if i == 5 {
			break
		}
		problems = append(problems, "unexpected error in the daemon's log: "+line)
	}
	if r.exited != nil {
		problems = append(problems, fmt.Sprintf("the daemon did not stop cleanly on SIGTERM: %v", r.exited))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n  "))
	}
	logf("PASS: %s, seed %d", r.opts.duration, r.opts.seed)
	return nil
}

func (r report) judgedSamples() []sample {
	for i, s := range r.samples {
		if s.at >= r.opts.warmup {
			return r.samples[i:]
		}
	}
	return nil
}

// expectedFailure matches the errors a daemon logs when the service is
// down, its connection dropped, or an answer did not come: what this soak
// causes on purpose. Anything else at error level fails the run.
var expectedFailure = regexp.MustCompile(`connection refused|connection reset|connection lost|broken pipe|EOF|i/o timeout|timed out|no answer|not connected|network is unreachable|dropped`)

// classifyLog splits the daemon's error-level lines into the expected
// network failures (counted) and the others (returned).
func (r report) classifyLog() (bad []string, expected int, err error) {
	f, err := os.Open(r.daemonLog)
	if err != nil {
		return nil, 0, fmt.Errorf("daemon log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.SplitN(line, "\t", 3)
		if len(fields) < 3 || (fields[1] != "ERROR" && fields[1] != "DPANIC" && fields[1] != "PANIC" && fields[1] != "FATAL") {
			if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
				bad = append(bad, line)
			}
			continue
		}
		if expectedFailure.MatchString(line) {
			expected++
			continue
		}
		bad = append(bad, line)
	}
	return bad, expected, sc.Err()
}

// keepFiles copies the samples (CSV) and the logs into dir.
func (r report) keepFiles(dir, run string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("seconds,rss_kib,fds,goroutines,state_bytes,orphans\n")
	for _, s := range r.samples {
		fmt.Fprintf(&b, "%.0f,%d,%d,%d,%d,%d\n", s.at.Seconds(), s.rssKiB, s.fds, s.goroutines, s.stateBytes, s.orphans)
	}
	if err := os.WriteFile(filepath.Join(dir, "samples.csv"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	logs, _ := filepath.Glob(filepath.Join(run, "*.log"))
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(l)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func leastSquaresSlope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

func minMax(ys []float64) (lo, hi float64) {
	lo, hi = ys[0], ys[0]
	for _, y := range ys {
		lo, hi = min(lo, y), max(hi, y)
	}
	return lo, hi
}
