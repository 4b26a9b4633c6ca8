// Package report prints benchmark figures as rows of the table bench/run.sh
// assembles, and computes the statistics they quote.
package report

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Row prints one table row on stdout: the figure, its value and the command
// that produced it. Details go to stderr, so that stdout is the table. A "|"
// is escaped so that the row stays one Markdown table row.
func Row(figure, value, command string) {
	esc := strings.NewReplacer("|", `\|`)
	fmt.Printf("| %s | %s | `%s` |\n", esc.Replace(figure), esc.Replace(value), esc.Replace(command))
}

// Command renders the command line of this program as run.sh invokes it:
// the program's name and its arguments, binary folders shown as $BIN.
func Command() string {
	bin := os.Getenv("BIN")
	parts := []string{"$BIN/" + baseName(os.Args[0])}
	for _, a := range os.Args[1:] {
		if bin != "" {
			a = strings.ReplaceAll(a, bin, "$BIN")
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Percentile returns the p-th percentile (0-100) of ds by nearest rank.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Median is the 50th percentile; for an even count, the mean of the middle two.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ms formats d in milliseconds: two decimals below 10 ms, one above.
func Ms(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// MiB formats a KiB count in MiB with one decimal.
func MiB(kib int64) string {
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}
