package main

import (
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/rotation"
)

// The fleet's rotations all fall in the jitter window before the due time,
// fill it, and keep doing so when found late after a clock jump.
func TestFleetSpreadsOverTheWindow(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fleet := newFleet(1000, at)
	p := rotation.Policy{After: time.Hour}
	due, window := dueTimes(fleet, p)
	if window != 6*time.Minute {
		t.Fatalf("window %s, want 6m (10%% of 1h)", window)
	}
	h := histogram(due, at.Add(time.Hour-window), window, time.Second) // panics on a time outside
	sum := 0
	for _, c := range h.counts {
		sum += c
	}
	if sum != len(fleet) || h.empty() > len(h.counts)/5 {
		t.Errorf("%d of %d counted, %d of %d seconds empty", sum, len(fleet), h.empty(), len(h.counts))
	}
	boot := at.Add(30 * 24 * time.Hour)
	late := histogram(lateTimes(fleet, p, boot), boot, window+time.Second, time.Second)
	if peak, _ := late.peak(); peak > 15 {
		t.Errorf("after the clock jump %d rotations in one second", peak)
	}
	if c := h.chanceWithin(1000); c < 0.999 {
		t.Errorf("chance of a peak within 1000× the mean: %v, want 1", c)
	}
	if c := h.chanceWithin(0.1); c > 0.001 {
		t.Errorf("chance of a peak below the mean: %v, want 0", c)
	}
}

// The herd's target holds for 500 devices with the default jitter: over
// 10-second bins the peak is at most twice the mean, and a peak beyond it
// is reported as not met.
func TestHerdTarget(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	due, window := dueTimes(newFleet(500, at), rotation.Policy{After: time.Hour})
	h := histogram(due, at.Add(time.Hour-window), window, 10*time.Second)
	if len(h.counts) != 36 || h.mean() < 13.8 || h.mean() > 13.9 {
		t.Fatalf("%d bins, mean %.2f; want 36 bins of 500/36", len(h.counts), h.mean())
	}
	if peak, _ := h.peak(); !h.met() {
		t.Errorf("peak %d per 10 s against a mean of %.1f: above %d×", peak, h.mean(), maxPeakToMean)
	}
	burst := h
	burst.counts = append([]int(nil), h.counts...)
	burst.counts[0] += 30 // thirty more in the first bin
	burst.n += 30
	if burst.met() {
		t.Errorf("peak %v reported as within the target", burst.counts[0])
	}
}
