// Command crashstates explores every state a power cut can leave while the
// real provisiond provisions against the real fleetsim, and checks that the
// daemon recovers from each (see docs/RELIABILITY.md). It exits 1 when a
// state fails; each failing state is saved as a fixture.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/crashstate"
)

func main() {
	o := crashstate.Options{Out: os.Stdout}
	flag.StringVar(&o.Provisiond, "provisiond", "bin/provisiond", "the provisiond binary")
	flag.StringVar(&o.Fleetsim, "fleetsim", "bin/fleetsim", "the fleetsim binary")
	flag.StringVar(&o.Strace, "strace", "strace", "the strace binary")
	flag.StringVar(&o.SWTPM, "swtpm", "swtpm", "the swtpm binary (for the TPM flows)")
	flag.StringVar(&o.AttestHook, "attest-hook", "bin/attest-hook", "the attest-hook binary (for the attestation flows)")
	flag.StringVar(&o.FactoryScript, "factory-script", "scripts/factory-attestation.sh", "the factory script (for the attestation flows)")
	flag.StringVar(&o.SoftHSM2Util, "softhsm2-util", "softhsm2-util", "the softhsm2-util binary (for the PKCS#11 flows)")
	flag.StringVar(&o.PKCS11Tool, "pkcs11-tool", "pkcs11-tool", "the pkcs11-tool binary (for the PKCS#11 flows)")
	flag.StringVar(&o.PKCS11Module, "pkcs11-module", "/usr/lib/softhsm/libsofthsm2.so", "softhsm2's PKCS#11 module (for the PKCS#11 flows)")
	var namedOnly []string
	for _, f := range crashstate.NamedOnlyFlows {
		namedOnly = append(namedOnly, f.Name)
	}
	flows := flag.String("flows", "", "comma-separated flows (default all but the named-only ones: "+strings.Join(namedOnly, ", ")+")")
	models := flag.String("models", "", "comma-separated models: ext4-ordered, posix-minimum (default both)")
	flag.IntVar(&o.Limit, "limit", 64, "crash states checked per point of a recording, at most (a seeded sample beyond)")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of every sample")
	flag.IntVar(&o.Sample, "sample", 0, "check only this many states, drawn with the seed (0: all)")
	flag.IntVar(&o.Parallel, "parallel", 3, "checks at once")
	flag.StringVar(&o.Only, "only", "", "check only the states whose id starts with this (flow/model/pN/cM)")
	flag.StringVar(&o.Fixtures, "fixtures", "internal/crashstate/testdata/failing", "where failing states are saved")
	flag.DurationVar(&o.Timeout, "timeout", 20*time.Second, "time a check may take to end registered")
	keep := flag.Bool("keep", false, "keep the work folder")
	replay := flag.Bool("replay", false, "check again the saved failing states named as arguments (fixture folders)")
	flag.Parse()

	var err error
	all := crashstate.Flows
	if *flows != "" {
		all = append(all, crashstate.NamedOnlyFlows...)
	}
	if o.Flows, err = pick(*flows, all, func(f crashstate.Flow) string { return f.Name }); err == nil {
		o.Models, err = pick(*models, crashstate.Models, func(m crashstate.Model) string { return m.Name })
	}
	if err != nil {
		fail(err)
	}
	tools := []*string{&o.Provisiond, &o.Fleetsim, &o.Strace}
	if slices.ContainsFunc(o.Flows, func(f crashstate.Flow) bool { return f.TPM }) {
		tools = append(tools, &o.SWTPM)
	} else if p, err := exec.LookPath(o.SWTPM); err == nil {
		o.SWTPM, _ = filepath.Abs(p) // a replayed TPM fixture needs it
	}
	if slices.ContainsFunc(o.Flows, func(f crashstate.Flow) bool { return f.Attest }) {
		tools = append(tools, &o.AttestHook)
		if o.FactoryScript, err = filepath.Abs(o.FactoryScript); err != nil {
			fail(err)
		}
	}
	if slices.ContainsFunc(o.Flows, func(f crashstate.Flow) bool { return f.PKCS11 }) {
		tools = append(tools, &o.SoftHSM2Util, &o.PKCS11Tool)
		if _, err := os.Stat(o.PKCS11Module); err != nil {
			fail(fmt.Errorf("-pkcs11-module: %w (apt-get install softhsm2)", err))
		}
	}
	for _, p := range tools {
		if *p, err = exec.LookPath(*p); err != nil {
			fail(err)
		}
		*p, _ = filepath.Abs(*p)
	}
	if *replay {
		os.Exit(replayFixtures(o, flag.Args()))
	}
	if o.Base, err = os.MkdirTemp("", "crashstates-"); err != nil {
		fail(err)
	}
	if !*keep {
		defer os.RemoveAll(o.Base)
	}
	tallies, err := crashstate.Explore(o)
	if err != nil {
		fail(err)
	}
	for _, t := range tallies {
		if t.Failed > 0 {
			fmt.Printf("failing states saved under %s\n", o.Fixtures)
			os.RemoveAll(o.Base)
			os.Exit(1)
		}
	}
}

// replayFixtures checks each fixture again and returns the exit code.
func replayFixtures(o crashstate.Options, dirs []string) int {
	code := 0
	for _, dir := range dirs {
		// A short folder: the replay's paths take the recording's lengths.
		base, err := os.MkdirTemp("", "cs")
		if err != nil {
			fail(err)
		}
		o.Base = base
		res, err := crashstate.Replay(o, dir)
		os.RemoveAll(base)
		switch {
		case err != nil:
			fail(err)
		case res.Fault != "":
			fmt.Printf("FAIL %s: %s\n", dir, res.Fault)
			code = 1
		case res.Refused:
			fmt.Printf("refused %s: exit 65 on a torn state file, as documented\n", dir)
		default:
			fmt.Printf("recovered %s\n", dir)
		}
	}
	return code
}

func pick[T any](list string, all []T, name func(T) string) ([]T, error) {
	if list == "" {
		return all, nil
	}
	var out []T
	for _, want := range strings.Split(list, ",") {
		found := false
		for _, x := range all {
			if name(x) == want {
				out, found = append(out, x), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown name %q", want)
		}
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crashstates:", err)
	os.Exit(2)
}
