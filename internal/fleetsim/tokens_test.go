package fleetsim

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenSecretIsCreatedForOlderFolders(t *testing.T) {
	dir := newDir(t)
	path := filepath.Join(dir, tokenSecretFile)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	secret, err := loadTokenSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, info.Mode().Perm())
	}
	again, err := loadTokenSecret(dir)
	if err != nil || hex.EncodeToString(again) != hex.EncodeToString(secret) || len(secret) != 32 {
		t.Fatalf("second load: %x, %v; want the %d-byte secret written first (%x)", again, err, len(secret), secret)
	}

	s := &Server{secret: secret}
	id := strings.Repeat("ab", 32)
	if got, ok := s.tokenCertificate(s.makeToken(id)); !ok || got != id {
		t.Fatalf("token names %q (%v), want %s", got, ok, id)
	}
	if _, ok := (&Server{secret: []byte("another secret of 32 bytes.....")}).tokenCertificate(s.makeToken(id)); ok {
		t.Fatal("a token sealed with another folder's secret was accepted")
	}
}
