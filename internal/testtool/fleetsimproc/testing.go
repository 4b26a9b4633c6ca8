package fleetsimproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// module is the fleetsim command's import path, which builds from any
// folder of the module.
const module = "github.com/provisiond/provisiond/cmd/fleetsim"

var build struct {
	once     sync.Once
	dir, bin string
	err      error
	out      []byte
	inMain   bool
}

// RunTests runs a test binary's tests (call it from TestMain) and then
// removes the fleetsim binary Binary built for them.
func RunTests(m *testing.M) int {
	build.inMain = true
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// Binary builds the fleetsim binary once per test binary and returns its
// path. The package's TestMain must call RunTests, which removes it.
func Binary(tb testing.TB) string {
	tb.Helper()
	if !build.inMain {
		tb.Fatal("fleetsimproc.Binary: the package's TestMain must return fleetsimproc.RunTests(m)")
	}
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "fleetsimproc-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "fleetsim")
		cmd := exec.Command("go", "build", "-o", build.bin, module)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		tb.Fatalf("go build %s: %v\n%s", module, build.err, build.out)
	}
	return build.bin
}

// Serve starts `fleetsim serve` on the initialised folder dir with more
// serve flags, stops it when the test ends, and prints its log if the test
// failed.
func Serve(tb testing.TB, bin, dir string, flags ...string) *Server {
	tb.Helper()
	return ServeWith(tb, Options{Bin: bin, Dir: dir, Flags: flags})
}

// ServeWith is Serve with all of Start's options.
func ServeWith(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := Start(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("fleetsim serve --dir %s (%s):\n%s", o.Dir, s.Log, s.LogText())
		}
	})
	return s
}
