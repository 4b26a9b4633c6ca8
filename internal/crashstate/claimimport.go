package crashstate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/provisiond/provisiond/internal/store"
)

// dropDurableAt is the first point of a recording at which the temporary
// claim's drop is durable: past the sync of the drop folder that follows
// the drop's rename into it, where atomicfile.Write returns and `claim
// import` may report success. It is len(ops)+1 when no drop was made.
func dropDurableAt(ops []Op) int {
	renamed := false
	for j, o := range ops {
		switch {
		case o.Kind == Rename && isDrop(o.Path2):
			renamed = true
		case renamed && o.Kind == FsyncDir && o.Path == store.ClaimImportDir:
			return j + 1
		}
	}
	return len(ops) + 1
}

// isDrop reports whether a path (relative to the state directory) is a drop
// file: in the drop folder, not an atomic write's hidden temp file.
func isDrop(rel string) bool {
	name, ok := strings.CutPrefix(rel, store.ClaimImportDir+"/")
	return ok && name != "" && !strings.Contains(name, "/") && !strings.HasPrefix(name, ".")
}

// dropsLeft lists the drop files in a state directory's drop folder.
func dropsLeft(stateDir string) []string {
	entries, _ := os.ReadDir(filepath.Join(stateDir, store.ClaimImportDir))
	var left []string
	for _, e := range entries {
		if e.Type().IsRegular() && isDrop(store.ClaimImportDir+"/"+e.Name()) {
			left = append(left, e.Name())
		}
	}
	return left
}

// importClaim imports the fleet folder's claim pair into the daemon config
// names, as the flow's installer did: `provisiond claim import -`.
func importClaim(provisiond, config, fleet string) error {
	var pair []byte
	for _, f := range []string{"claim.pem.crt", "claim.pem.key"} {
		data, err := os.ReadFile(filepath.Join(fleet, f))
		if err != nil {
			return err
		}
		pair = append(pair, data...)
	}
	cmd := exec.Command(provisiond, "claim", "import", "-", "--config", config)
	cmd.Stdin = bytes.NewReader(pair)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("claim import again: %v: %s", err, lastLines(string(out), 2))
	}
	return nil
}

// claimVerdict says, for a claim-import state that did not end registered,
// what became of the temporary claim.
func claimVerdict(s *State, stateDir string, importErr error) string {
	left := dropsLeft(stateDir)
	var st struct {
		State string `json:"state"`
	}
	data, _ := os.ReadFile(filepath.Join(stateDir, store.StateFile))
	_ = json.Unmarshal(data, &st)
	switch {
	case importErr != nil:
		return importErr.Error()
	case st.State == "registered" && len(left) > 0:
		return fmt.Sprintf("registered, but the used temporary claim's drop %s is still there", strings.Join(left, ", "))
	case !s.Reimport && len(left) == 0:
		return "the imported claim was lost: its drop was durable before the cut, and none is left"
	case !s.Reimport:
		return "the claim imported before the cut was not used"
	}
	return "with the claim imported again"
}

// tempDropsLeft reports an atomic write's temp file left in the drop
// folder once the daemon is done: a cut import's copy of a claim's key.
func tempDropsLeft(stateDir string) string {
	entries, _ := os.ReadDir(filepath.Join(stateDir, store.ClaimImportDir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			return fmt.Sprintf("%s/%s (a temporary claim's key) is left behind", store.ClaimImportDir, e.Name())
		}
	}
	return ""
}
