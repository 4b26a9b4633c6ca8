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
	h := histogram(due, at.Add(time.Hour-window), window) // panics on a time outside
	sum := 0
	for _, c := range h.counts {
		sum += c
	}
	if sum != len(fleet) || h.empty() > len(h.counts)/5 {
		t.Errorf("%d of %d counted, %d of %d seconds empty", sum, len(fleet), h.empty(), len(h.counts))
	}
	boot := at.Add(30 * 24 * time.Hour)
	late := histogram(lateTimes(fleet, p, boot), boot, window+time.Second)
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
