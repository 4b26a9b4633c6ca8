package p11test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A token.object a kill emptied reads as an uninitialized token; Mend puts
// back the whole copy and the token is found by its label again. A whole
// rewrite (each login's) becomes the copy Mend puts back next.
func TestMendPutsBackACutTokenFile(t *testing.T) {
	m := SoftHSM(t)
	tok := m.InitToken("gateway")
	k := m.KeepTokenFilesWhole()
	m.Tool("--token-label", tok.Label, "--login", "--pin", UserPIN, "--list-objects")
	if mended := k.Mend(); len(mended) != 0 {
		t.Fatalf("Mend after a whole rewrite put back %v", mended)
	}
	paths, _ := filepath.Glob(filepath.Join(m.Dir, "tokens", "*", "token.object"))
	if len(paths) != 1 {
		t.Fatalf("token.object files: %v", paths)
	}
	after, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(paths[0], 0); err != nil {
		t.Fatal(err)
	}
	if out := m.Tool("--list-token-slots"); strings.Contains(out, "gateway") {
		t.Fatalf("an empty token.object still shows the token:\n%s", out)
	}
	if mended := k.Mend(); len(mended) != 1 || mended[0] != paths[0] {
		t.Fatalf("Mend put back %v, want %s", mended, paths[0])
	}
	back, err := os.ReadFile(paths[0])
	if err != nil || string(back) != string(after) {
		t.Fatalf("token.object after Mend differs from its last whole copy (%v)", err)
	}
	if out := m.Tool("--list-token-slots"); !strings.Contains(out, "gateway") {
		t.Fatalf("the mended token is not found by its label:\n%s", out)
	}
}
