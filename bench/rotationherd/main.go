// Command rotationherd computes, with the daemon's real rotation policy
// code, when a fleet provisioned in the same second rotates: n devices,
// each with its own certificate id, `rotation: {after: 1h}` and the default
// jitter. It prints the histogram per 10-second bin over the jitter window
// (on stderr), and one table row with the mean and the peak per bin against
// the target: the peak at most 2× the mean. A second row shows the same fleet booting 30 days later, its clock jumping
// forward with the first time sync: the rotations it finds overdue keep the
// window's spread instead of firing in the boot second.
//
// No daemon runs: the due times are pure functions of the policy and the
// identity, which is what the state machine calls.
//
//	rotationherd -devices 500 -after 1h
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/provisiond/provisiond/bench/internal/report"
	"github.com/provisiond/provisiond/internal/rotation"
)

func main() {
	devices := flag.Int("devices", 500, "devices provisioned in the same second")
	after := flag.Duration("after", time.Hour, "rotation.after")
	width := flag.Duration("bin", 10*time.Second, "width of the histogram's bins")
	flag.Parse()
	if *devices < 1 || *after <= 0 || *width < time.Second {
		fmt.Fprintln(os.Stderr, "rotationherd: -devices and -after must be positive, -bin at least 1s")
		os.Exit(2)
	}
	cmd := report.Command()
	provisioned := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fleet := newFleet(*devices, provisioned)
	policy := rotation.Policy{After: *after}

	due, window := dueTimes(fleet, policy)
	h := histogram(due, provisioned.Add(*after).Add(-window), window, *width)
	fmt.Fprintf(os.Stderr, "\nrotation herd: %d devices provisioned at %s, after %s, default jitter (%.0f%%: a %s window before the due time)\n",
		*devices, provisioned.Format(time.RFC3339), *after, rotation.DefaultJitterShare*100, window)
	h.print("rotations")
	report.Row(fmt.Sprintf("Rotation herd: %d devices provisioned in the same second, rotation.after %s, default jitter: rotations per %s bin over the %s window", *devices, *after, *width, window),
		h.summary(), cmd)

	// The same fleet boots 30 days later with a stale clock that then jumps.
	boot := provisioned.Add(30 * 24 * time.Hour)
	late := lateTimes(fleet, policy, boot)
	lh := histogram(late, boot, window+time.Second, *width)
	lh.print("rotations after the clock jumped to " + boot.Format(time.RFC3339))
	report.Row(fmt.Sprintf("… the same fleet booting 30 days later, its clock jumping forward at boot: rotations per %s bin in the %s after the jump", *width, window),
		lh.summary(), cmd)
}

// newFleet makes n identities provisioned at the same instant, each with a
// certificate id shaped like AWS's (the SHA-256 of a certificate, in hex).
func newFleet(n int, at time.Time) []rotation.Identity {
	ids := make([]rotation.Identity, n)
	for i := range ids {
		sum := sha256.Sum256(fmt.Appendf(nil, "device certificate %d", i))
		ids[i] = rotation.Identity{
			Key:           hex.EncodeToString(sum[:]),
			ProvisionedAt: at,
			NotBefore:     at,
			NotAfter:      time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
		}
	}
	return ids
}

func dueTimes(fleet []rotation.Identity, p rotation.Policy) ([]time.Time, time.Duration) {
	var window time.Duration
	due := make([]time.Time, len(fleet))
	for i, id := range fleet {
		s, ok, err := p.Due(id)
		if err != nil || !ok {
			panic(fmt.Sprintf("Due(%s): %v", id.Key, err))
		}
		due[i], window = s.At, s.Window
	}
	return due, window
}

// lateTimes is when each identity rotates when the daemon first decides at
// now, long after its due time, and then wakes when Decide says.
func lateTimes(fleet []rotation.Identity, p rotation.Policy, now time.Time) []time.Time {
	at := make([]time.Time, len(fleet))
	for i, id := range fleet {
		s, _, _ := p.Due(id)
		t, planned := now, time.Time{}
		for {
			d := s.Decide(t, planned)
			if d.Action == rotation.Act {
				break
			}
			t, planned = d.At, d.At
		}
		at[i] = t
	}
	return at
}

// maxPeakToMean is the herd's target: over the bins, the peak is at most
// this many times the mean.
const maxPeakToMean = 2

// bins is a histogram of times in bins of one width from start.
type bins struct {
	counts      []int
	width, span time.Duration
	n           int
}

func histogram(times []time.Time, start time.Time, span, width time.Duration) bins {
	h := bins{counts: make([]int, int((span+width-1)/width)), width: width, span: span, n: len(times)}
	for _, t := range times {
		i := int(t.Sub(start) / width)
		if i < 0 || i >= len(h.counts) {
			panic(fmt.Sprintf("%s is outside [%s, +%s)", t, start, span))
		}
		h.counts[i]++
	}
	return h
}

func (h bins) peak() (int, int) {
	best, at := 0, 0
	for i, c := range h.counts {
		if c > best {
			best, at = c, i
		}
	}
	return best, at
}

// mean is the count per bin's width over the span (a last bin the span
// cuts short does not lower it).
func (h bins) mean() float64 { return float64(h.n) * h.width.Seconds() / h.span.Seconds() }

// met reports whether the peak is within the target.
func (h bins) met() bool {
	peak, _ := h.peak()
	return float64(peak) <= maxPeakToMean*h.mean()
}

func (h bins) summary() string {
	peak, at := h.peak()
	verdict := "met"
	if !h.met() {
		verdict = "NOT met"
	}
	return fmt.Sprintf("mean %.1f, peak %d (bin at +%s), peak/mean %.2f (target ≤ %d: %s; %.0f%% chance of meeting it for any %d independent uniform times over %d bins); empty bins: %d",
		h.mean(), peak, time.Duration(at)*h.width, float64(peak)/h.mean(), maxPeakToMean, verdict,
		100*h.chanceWithin(maxPeakToMean), h.n, len(h.counts), h.empty())
}

// chanceWithin is the probability that n times drawn independently and
// uniformly over the histogram's bins (what uncoordinated per-device
// jitter gives at best) have a peak of at most ratio × the mean: each
// bin's count is Binomial(n, 1/bins), and the bins are taken as
// independent.
func (h bins) chanceWithin(ratio float64) float64 {
	k := int(math.Floor(ratio * h.mean()))
	p := 1 / float64(len(h.counts))
	term := math.Pow(1-p, float64(h.n)) // P(X = 0)
	cdf := term
	for i := 1; i <= k && i <= h.n; i++ {
		term *= float64(h.n-i+1) / float64(i) * p / (1 - p)
		cdf += term
	}
	return math.Pow(min(cdf, 1), float64(len(h.counts)))
}

func (h bins) empty() int {
	n := 0
	for _, c := range h.counts {
		if c == 0 {
			n++
		}
	}
	return n
}

func (h bins) print(what string) {
	fmt.Fprintf(os.Stderr, "%s per %s ('#' = 1):\n", what, h.width)
	for i, c := range h.counts {
		fmt.Fprintf(os.Stderr, "  +%6s %3d %s\n", time.Duration(i)*h.width, c, strings.Repeat("#", c))
	}
	peak, _ := h.peak()
	fmt.Fprintf(os.Stderr, "  %d in %d bins: mean %.1f, peak %d\n", h.n, len(h.counts), h.mean(), peak)
}
