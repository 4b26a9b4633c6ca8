package crashstate

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/testtool"
)

// The attestation flow: the daemon certifies its key with the AK the
// factory script put in a real swtpm, attest-hook --listen is the hook,
// and a sample of the crash states recovers with the AK in place.
func TestRealDaemonRecoversFromASampleOfAttestationCrashStates(t *testing.T) {
	tools := buildTools(t)
	tools.SWTPM = testtool.Need(t, "swtpm", "swtpm")
	testtool.Need(t, "tpm2_createak", "tpm2-tools")
	testtool.Need(t, "openssl", "openssl")
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", "../../cmd/attest-hook").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tools.AttestHook = filepath.Join(bin, "attest-hook")
	script, err := filepath.Abs("../../scripts/factory-attestation.sh")
	if err != nil {
		t.Fatal(err)
	}
	tools.FactoryScript = script
	exploreSample(t, tools, "csr-tpm-attest", 8)
}

// The checker notices an AK that was removed or replaced.
func TestCheckAKNoticesARemovedOrReplacedKey(t *testing.T) {
	bin := testtool.Need(t, "swtpm", "swtpm")
	tpm, err := startSWTPM(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Stop()
	other := newKey(t)
	a := &attestation{ak: &other.PublicKey}
	if got := a.checkAK(tpm); !strings.Contains(got, "is gone") {
		t.Errorf("no key at the handle: %q", got)
	}
	held := tpmtest.PersistForeignKey(t, tpm.Device(), 0x81020000)
	if got := a.checkAK(tpm); !strings.Contains(got, "was replaced") {
		t.Errorf("another key at the handle: %q", got)
	}
	a.ak = held
	if got := a.checkAK(tpm); got != "" {
		t.Errorf("the AK at its handle: %q", got)
	}
}
