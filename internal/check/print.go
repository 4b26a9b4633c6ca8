package check

import (
	"encoding/json"
	"fmt"
	"io"
)

// Print writes one line per result (and the fix under one that did not
// pass), or with asJSON a JSON array of one object per result.
func Print(w io.Writer, results []Result, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results)
		return
	}
	for _, r := range results {
		fmt.Fprintf(w, "%-4s  %-8s  %s\n", r.Status, r.Name, r.Message)
		if r.Fix != "" && r.Status != OK {
			fmt.Fprintf(w, "      %-8s  fix: %s\n", "", r.Fix)
		}
	}
}
