package deptest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/provisiond/provisiond/"

// pkg is what `go list -deps -json` says of a package.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	GoFiles    []string
	Dir        string
}

// list runs `go list -deps -json` on patterns from the module's root and
// returns every package it names, by import path.
func list(t *testing.T, patterns ...string) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json"}, patterns...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// The daemon's binary links neither the emulator nor its MQTT broker.
func TestDaemonLinksNoEmulator(t *testing.T) {
	bin := list(t, "./cmd/provisiond")[module+"cmd/provisiond"]
	for _, dep := range bin.Deps {
		if strings.HasPrefix(dep, module+"internal/fleetsim") || strings.HasPrefix(dep, "github.com/mochi-mqtt/") ||
			strings.HasPrefix(dep, module+"internal/storm") {
			t.Errorf("cmd/provisiond links %s: the emulator stays out of the daemon", dep)
		}
	}
}

// shared are the module's libraries both sides may use: they know nothing
// of either.
var shared = map[string]bool{
	module + "internal/atomicfile": true, // durable file replacement
	module + "internal/clock":      true, // time, timers, the boot clock
	module + "internal/keypair":    true, // PEM parsing and key pairs
	module + "internal/logging":    true,
	module + "internal/testtool":   true,
}

// The emulator is an independent check of the daemon: it imports no
// package of the daemon's.
func TestEmulatorImportsNoDaemonPackage(t *testing.T) {
	pkgs := list(t, "./cmd/provisiond", "./internal/fleetsim/...")
	daemon := map[string]bool{}
	for _, dep := range pkgs[module+"cmd/provisiond"].Deps {
		if strings.HasPrefix(dep, module) && !shared[dep] && !strings.HasPrefix(dep, module+"internal/fleetsim") {
			daemon[dep] = true
		}
	}
	for path, p := range pkgs {
		if !strings.HasPrefix(path, module+"internal/fleetsim") {
			continue
		}
		for _, dep := range p.Deps {
			if daemon[dep] {
				t.Errorf("%s imports %s, a package of the daemon's", path, dep)
			}
		}
	}
}

// The state machine decides; it does no I/O of its own: no MQTT client or
// broker, no file watcher, no os file calls, no /proc or clock_gettime
// reads (internal/clock and internal/store do those).
func TestStateMachineStaysPure(t *testing.T) {
	sm := list(t, "./internal/statemachine")[module+"internal/statemachine"]
	for _, imp := range sm.Imports {
		switch {
		case imp == "os", imp == "io/ioutil", imp == "syscall", strings.HasPrefix(imp, "golang.org/x/sys/"),
			strings.HasPrefix(imp, "github.com/eclipse/paho"), strings.HasPrefix(imp, "github.com/mochi-mqtt/"),
			strings.HasPrefix(imp, "github.com/fsnotify/"):
			t.Errorf("internal/statemachine imports %s", imp)
		}
	}
	for _, name := range sm.GoFiles {
		src, err := os.ReadFile(filepath.Join(sm.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(src, []byte(`"/proc/`)) {
			t.Errorf("internal/statemachine/%s reads /proc", name)
		}
	}
}

// The store keeps files and the fleet client speaks MQTT: neither knows
// the other.
func TestStoreAndFleetApart(t *testing.T) {
	pkgs := list(t, "./internal/store", "./internal/fleet")
	for a, b := range map[string]string{"internal/store": "internal/fleet", "internal/fleet": "internal/store"} {
		for _, dep := range pkgs[module+a].Deps {
			if dep == module+b {
				t.Errorf("%s imports %s", a, b)
			}
		}
	}
}

// The crash-state explorer drives the shipped binaries and checks what
// they leave on disk: of the daemon's packages it imports only the store,
// which owns the state directory's file names. Beside it: the test tools
// (they start swtpm and fleetsim) and internal/attest, the attestation
// format the hook binary verifies (the explorer gives fleetsim its
// example template), which imports nothing of the daemon's.
func TestCrashStateImportsOnlyTheStore(t *testing.T) {
	pkgs := list(t, "./internal/crashstate", "./internal/attest")
	allowed := map[string]bool{module + "internal/store": true, module + "internal/attest": true}
	for _, dep := range pkgs[module+"internal/attest"].Deps {
		if strings.HasPrefix(dep, module) && !shared[dep] {
			t.Errorf("internal/attest imports %s: the explorer may import it only while it imports nothing of the daemon's", dep)
		}
	}
	for _, imp := range pkgs[module+"internal/crashstate"].Imports {
		if strings.HasPrefix(imp, module) && !allowed[imp] && !shared[imp] &&
			!strings.HasPrefix(imp, module+"internal/testtool/") {
			t.Errorf("internal/crashstate imports %s: only internal/store, for its file names", imp)
		}
	}
}

// How the daemon reaches the service is internal/connect's: the commands,
// the supervisor and check go through it, never to the fleet client, the
// proxy or the claim key's source themselves, so that check --online tests
// the daemon's own path.
func TestOnlyConnectReachesTheService(t *testing.T) {
	pkgs := list(t, "./cmd/provisiond", "./internal/daemon", "./internal/check")
	for name, forbidden := range map[string][]string{
		"cmd/provisiond":  {"internal/fleet", "internal/proxy", "internal/keypair/claimkey"},
		"internal/daemon": {"internal/fleet", "internal/proxy", "internal/keypair/claimkey"},
		"internal/check":  {"internal/keypair/claimkey"},
	} {
		p := pkgs[module+name]
		for _, imp := range p.Imports {
			for _, f := range forbidden {
				if imp == module+f {
					t.Errorf("%s imports %s: it reaches the service through internal/connect", name, f)
				}
			}
		}
	}
	for _, name := range []string{"internal/daemon", "internal/check"} {
		if !slices.Contains(pkgs[module+name].Imports, module+"internal/connect") {
			t.Errorf("%s does not import internal/connect: it has another way to the service", name)
		}
	}
}

// internal/connect reaches the service and keeps nothing: it knows the state
// machine only by its Dialer interface, and nothing of the supervisor, of
// check, of the state folder or of watching files.
func TestConnectStaysBelowTheDaemon(t *testing.T) {
	c := list(t, "./internal/connect")[module+"internal/connect"]
	for _, dep := range c.Deps {
		if dep == module+"internal/daemon" || dep == module+"internal/check" {
			t.Errorf("internal/connect depends on %s", strings.TrimPrefix(dep, module))
		}
	}
	for _, imp := range c.Imports {
		if imp == module+"internal/store" || imp == module+"internal/watch" {
			t.Errorf("internal/connect imports %s", strings.TrimPrefix(imp, module))
		}
	}
	sm := list(t, "./internal/statemachine")[module+"internal/statemachine"]
	if slices.Contains(sm.Deps, module+"internal/connect") {
		t.Error("internal/statemachine depends on internal/connect: the machine knows only its Dialer")
	}
}

// The emulator's registry owns its SQL: no other package imports the SQLite driver (or
// database/sql, which would let it run queries on a connection of its own).
func TestOnlyRegistryKnowsSQL(t *testing.T) {
	for path, p := range list(t, "./...") {
		if !strings.HasPrefix(path, module) || path == module+"internal/fleetsim/registry" {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "modernc.org/sqlite") ||
				(imp == "database/sql" && strings.HasPrefix(path, module+"internal/fleetsim")) {
				t.Errorf("%s imports %s: only internal/fleetsim/registry may", path, imp)
			}
		}
	}
}

// The link emulator knows sockets and MQTT's framing only: it imports no package of the
// emulator's, so that it can be used and changed apart from the broker and the API.
func TestLinkImportsNoEmulatorPackage(t *testing.T) {
	for _, dep := range list(t, "./internal/fleetsim/link")[module+"internal/fleetsim/link"].Deps {
		if strings.HasPrefix(dep, module+"internal/fleetsim") {
			t.Errorf("internal/fleetsim/link imports %s", dep)
		}
	}
}
