package crashstate

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/testtool"
)

// The explorer records the real daemon provisioning with CSR, and a seeded
// sample of the crash states both models allow all recover. (make
// crash-states runs every flow and state; this keeps the pipeline honest
// under make test.)
func TestRealDaemonRecoversFromASampleOfCrashStates(t *testing.T) {
	strace := testtool.Need(t, "strace", "strace")
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", "../../cmd/provisiond", "../../cmd/fleetsim").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var log bytes.Buffer
	flow, _ := FlowByName("csr")
	tallies, err := Explore(Options{
		Tools:    Tools{Provisiond: filepath.Join(bin, "provisiond"), Fleetsim: filepath.Join(bin, "fleetsim"), Strace: strace},
		Base:     t.TempDir(),
		Flows:    []Flow{flow},
		Models:   Models,
		Limit:    8,
		Seed:     1,
		Sample:   12,
		Parallel: 2,
		Fixtures: t.TempDir(),
		Timeout:  30 * time.Second,
		Out:      &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	checked, recovered := 0, 0
	for _, tl := range tallies {
		checked += tl.Checked
		recovered += tl.Recovered
	}
	if checked != 12 || recovered != checked {
		t.Fatalf("%d of %d states recovered:\n%s", recovered, checked, log.String())
	}
	t.Log(log.String())
}
