package report

import (
	"testing"
	"time"
)

func TestMedianAndPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		in        []time.Duration
		median    time.Duration
		p95, p100 time.Duration
	}{
		{ms(3, 1, 2), 2 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond, 4 * time.Millisecond, 4 * time.Millisecond},
		{ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 10500 * time.Microsecond, 19 * time.Millisecond, 20 * time.Millisecond},
		{nil, 0, 0, 0},
	} {
		if got := Median(c.in); got != c.median {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.median)
		}
		if got := Percentile(c.in, 95); got != c.p95 {
			t.Errorf("Percentile(%v, 95) = %v, want %v", c.in, got, c.p95)
		}
		if got := Percentile(c.in, 100); got != c.p100 {
			t.Errorf("Percentile(%v, 100) = %v, want %v", c.in, got, c.p100)
		}
	}
}

func TestMs(t *testing.T) {
	for d, want := range map[time.Duration]string{
		12 * time.Microsecond:     "0.01 ms",
		9_994 * time.Microsecond:  "9.99 ms",
		17_640 * time.Microsecond: "17.6 ms",
	} {
		if got := Ms(d); got != want {
			t.Errorf("Ms(%v) = %q, want %q", d, got, want)
		}
	}
}
