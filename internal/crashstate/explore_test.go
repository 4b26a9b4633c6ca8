package crashstate

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

// The explorer records the real daemon provisioning with CSR, and a seeded
// sample of the crash states both models allow all recover. (make
// crash-states runs every flow and state; this keeps the pipeline honest
// under make test.)
func TestRealDaemonRecoversFromASampleOfCrashStates(t *testing.T) {
	exploreSample(t, buildTools(t), "csr", 12)
}

// The same with the key in a real swtpm, persistent at tpm.handle: the
// checker matches the TSS2 key file and the key at the handle.
func TestRealDaemonRecoversFromASampleOfTPMCrashStates(t *testing.T) {
	tools := buildTools(t)
	tools.SWTPM = testtool.Need(t, "swtpm", "swtpm")
	exploreSample(t, tools, "csr-tpm-handle", 8)
}

func exploreSample(t *testing.T, tools Tools, flowName string, sample int) {
	t.Helper()
	var log bytes.Buffer
	flow, _ := FlowByName(flowName)
	tallies, err := Explore(Options{
		Tools:    tools,
		Base:     t.TempDir(),
		Flows:    []Flow{flow},
		Models:   Models,
		Limit:    8,
		Seed:     1,
		Sample:   sample,
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
	if checked != sample || recovered != checked {
		t.Fatalf("%d of %d states recovered:\n%s", recovered, checked, log.String())
	}
	t.Log(log.String())
}

// A state saved as a fixture is checked again by Replay, from the saved
// files alone, in another folder; for a TPM flow, with the TPM's state
// saved beside them.
func TestSavedStateReplays(t *testing.T) {
	tools := buildTools(t)
	t.Run("csr", func(t *testing.T) { saveAndReplay(t, tools, "csr") })
	t.Run("csr-tpm-handle", func(t *testing.T) {
		tools.SWTPM = testtool.Need(t, "swtpm", "swtpm")
		saveAndReplay(t, tools, "csr-tpm-handle")
	})
}

func saveAndReplay(t *testing.T, tools Tools, flowName string) {
	// Long enough that the replay folder below fits in its length.
	base := filepath.Join(t.TempDir(), "recording-folder")
	flow, _ := FlowByName(flowName)
	rec, err := Record(tools, flow, base, stateDir(base, "r", 0))
	if err != nil {
		t.Fatal(err)
	}
	states, _ := Generate(rec, POSIXMin, 4, 1)
	// The last state: registered, with a handoff to keep usable.
	s := states[len(states)-1]
	o := Options{Tools: tools, Base: base, Fixtures: t.TempDir(), Seed: 1, Timeout: 30 * time.Second}
	w := &worker{o: o, rec: rec}
	if err := w.saveFixture(s, Result{Fault: "saved by a test"}, ""); err != nil {
		t.Fatal(err)
	}
	o.Base = t.TempDir()
	res, err := Replay(o, filepath.Join(o.Fixtures, strings.ReplaceAll(s.ID(), "/", "-")))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Recovered {
		t.Fatalf("replayed %s: %+v", s.ID(), res)
	}
}

// buildTools builds the real binaries the explorer drives, and finds
// strace (a test without it skips, or fails under CI).
func buildTools(t *testing.T) Tools {
	t.Helper()
	strace := testtool.Need(t, "strace", "strace")
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", "../../cmd/provisiond").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return Tools{Provisiond: filepath.Join(bin, "provisiond"), Fleetsim: fleetsimproc.Binary(t), Strace: strace}
}

// The states the explorer found failing, kept as fixtures, recover now: a
// new certificate that expired during the cut, before it was proven, is
// given up for a new one (short-lived certificates).
func TestFoundStatesRecover(t *testing.T) {
	tools := buildTools(t)
	for _, name := range []string{"csr-short-lived-ext4-ordered-p36-c0"} {
		t.Run(name, func(t *testing.T) {
			// The replay folder may be no longer than the recording's.
			base, err := os.MkdirTemp("", "cs")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			o := Options{Tools: tools, Base: base, Fixtures: t.TempDir(), Seed: 1, Timeout: 30 * time.Second}
			res, err := Replay(o, filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Recovered {
				t.Fatalf("replayed %s: %+v", name, res)
			}
		})
	}
}
