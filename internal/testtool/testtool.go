// Package testtool lets a test use an outside program that a user of the
// feature would use (swtpm, a proxy server, the aws CLI, strace). On a
// developer's machine without it, the test is skipped with the package to
// install; under CI (CI set), where .ci/run installs every such program, a
// missing one fails the test, so a green CI never hides a skipped feature.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of program, or ends the test: skipped outside CI,
// failed under CI. debianPackage names what to install.
func Need(t testing.TB, program, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := program + " is not installed (apt-get install " + debianPackage + ")"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; .ci/run installs it, so CI must have it")
	}
	t.Skip(msg)
	return ""
}
