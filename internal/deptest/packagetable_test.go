package deptest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// architecture is the document whose package table names every package.
const architecture = "../../docs/ARCHITECTURE.md"

// Every package under internal/ has a row in ARCHITECTURE.md's package
// table, and every internal/ row names a package that exists.
func TestEveryPackageHasARow(t *testing.T) {
	cmd := exec.Command("go", "list", "./internal/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./internal/...: %v", err)
	}
	rows, err := tableRows(architecture)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, path := range strings.Fields(string(out)) {
		name := strings.TrimPrefix(path, module)
		listed[name] = true
		if !rows[name] {
			t.Errorf("%s has no row in docs/ARCHITECTURE.md's package table; add one: | `%s` | what it owns |", name, name)
		}
	}
	for name := range rows {
		if strings.HasPrefix(name, "internal/") && !listed[name] {
			t.Errorf("docs/ARCHITECTURE.md's package table has a row for %s, which `go list ./internal/...` does not name", name)
		}
	}
}

// tableRows returns the package each row of the table under "## Packages"
// names in its first cell, in backquotes.
func tableRows(file string) (map[string]bool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rows := map[string]bool{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Packages"
		case in && strings.HasPrefix(line, "| `"):
			cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			rows[cell] = true
		}
	}
	return rows, sc.Err()
}
