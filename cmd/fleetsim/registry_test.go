package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

// TestKilledEmulatorKeepsCommittedRegistrations provisions devices through a real
// `fleetsim serve`, kills it with SIGKILL, and finds every registration it answered in
// the database.
func TestKilledEmulatorKeepsCommittedRegistrations(t *testing.T) {
	bin := fleetsimproc.Binary(t)
	dir := filepath.Join(t.TempDir(), "sim")
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"init", "--dir", dir, "--listen", "127.0.0.1:0"}, &out, &errOut); code != 0 {
		t.Fatalf("init: %s", errOut.String())
	}
	serve := fleetsimproc.Serve(t, bin, dir, "--log-level", "warn")
	addr := serve.Addr
	const devices = 25
	if code := run(context.Background(), []string{"storm", "--dir", dir, "--devices", "25", "--concurrency", "5",
		"--endpoint", addr}, &out, &errOut); code != 0 {
		t.Fatalf("storm: exit %d: %s %s", code, out.String(), errOut.String())
	}
	serve.Kill()

	reg, err := fleetsim.ReadRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Things) != devices {
		t.Fatalf("after SIGKILL the registry holds %d things, want %d", len(reg.Things), devices)
	}
	for _, th := range reg.Things {
		if len(th.Certificates) != 1 {
			t.Fatalf("thing %s has certificates %v", th.ThingName, th.Certificates)
		}
		var got syncBuffer
		if code := run(context.Background(), []string{"registry", "--dir", dir, "--certificate", th.Certificates[0]}, &got, &errOut); code != 0 {
			t.Fatalf("registry --certificate: %s", errOut.String())
		}
		var c fleetsim.Certificate
		if err := json.Unmarshal([]byte(got.String()), &c); err != nil || c.Status != fleetsim.StatusActive || c.ThingName != th.ThingName {
			t.Fatalf("registry --certificate %s: %+v %v", th.Certificates[0], c, err)
		}
	}
	var one syncBuffer
	name := reg.Things[0].ThingName
	if code := run(context.Background(), []string{"registry", "--dir", dir, "--thing", name}, &one, &errOut); code != 0 {
		t.Fatalf("registry --thing: %s", errOut.String())
	}
	var th fleetsim.Thing
	if err := json.Unmarshal([]byte(one.String()), &th); err != nil || th.ThingName != name {
		t.Fatalf("registry --thing %s printed %q", name, one.String())
	}
	var none syncBuffer
	if code := run(context.Background(), []string{"registry", "--dir", dir, "--thing", "nobody"}, &none, &none); code != 1 ||
		!strings.Contains(none.String(), `thing "nobody"`) {
		t.Errorf("registry --thing nobody: exit %d, %q", code, none.String())
	}
}

// TestAWSCLICheck runs scripts/aws-cli-check.sh: the unmodified aws CLI against a real
// fleetsim serve.
func TestAWSCLICheck(t *testing.T) {
	testtool.Need(t, "aws", "awscli")
	bin := fleetsimproc.Binary(t)
	cmd := exec.Command("../../scripts/aws-cli-check.sh")
	cmd.Env = append(os.Environ(), "FLEETSIM="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "aws-cli-check: ok") {
		t.Fatalf("aws-cli-check.sh: %v\n%s", err, out)
	}
}
