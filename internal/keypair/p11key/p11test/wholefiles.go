package p11test

import (
	"os"
	"path/filepath"

	"github.com/provisiond/provisiond/internal/testtool/softhsm"
)

// TokenFileKeeper gives softhsm2's token files (softhsm.TokenFiles) the atomic rewrite that a
// secure element's own storage has, for tests that SIGKILL a process while
// it uses the token: after each kill, Mend puts back the last whole copy of
// a file that the kill cut short, as an atomic write would have left it.
// Nothing else in the folder is touched: a key's object file that a kill
// cut is the consumer's to deal with.
type TokenFileKeeper struct {
	tokens string
	whole  map[string][]byte
}

// KeepTokenFilesWhole records the whole copies of every softhsm2 token's
// files in the module's token folder as they are now.
func (m *Module) KeepTokenFilesWhole() *TokenFileKeeper {
	m.tb.Helper()
	k := &TokenFileKeeper{tokens: filepath.Join(m.Dir, "tokens"), whole: map[string][]byte{}}
	if mended := k.Mend(); len(mended) > 0 {
		m.tb.Fatalf("softhsm2 token files already cut before the test: %v", mended)
	}
	if len(k.whole) == 0 {
		m.tb.Fatalf("no softhsm2 token in %s", k.tokens)
	}
	return k
}

// Mend puts back each token file that is shorter than its last whole copy
// (softhsm2 writes each in one call of the same size, so a cut rewrite is
// an empty file), records the others as the new whole copies, and returns
// the paths it put back.
func (k *TokenFileKeeper) Mend() []string {
	var mended []string
	for _, name := range softhsm.TokenFiles {
		paths, _ := filepath.Glob(filepath.Join(k.tokens, "*", name))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			whole, seen := k.whole[p]
			if seen && len(data) < len(whole) {
				if os.WriteFile(p, whole, 0o600) == nil {
					mended = append(mended, p)
				}
				continue
			}
			k.whole[p] = data
		}
	}
	return mended
}
