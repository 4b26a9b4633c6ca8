package daemon

import (
	"slices"
	"testing"

	"github.com/provisiond/provisiond/internal/config"
)

// The daemon watches the claim key files, and nothing for a key that is
// not a file (a token's URI would be taken for a path in the working
// folder).
func TestInputPathsWatchClaimKeyFilesOnly(t *testing.T) {
	cfg := &config.Config{Path: "/etc/provisiond/config.yaml", RootCA: "/etc/provisiond/ca.pem", Claims: []config.Claim{
		{Certificate: "/etc/provisiond/a.crt", PrivateKey: "/etc/provisiond/a.key", Field: "claim[0]"},
		{Certificate: "/etc/provisiond/b.crt", PrivateKey: "pkcs11:token=gateway;object=claim", Field: "claim[1]"},
		{Certificate: "/etc/provisiond/c.crt", PrivateKey: "handle:0x81000002", Field: "claim[2]"},
	}}
	want := []string{"/etc/provisiond/config.yaml", "/etc/provisiond/ca.pem", "/etc/provisiond/a.crt", "/etc/provisiond/a.key",
		"/etc/provisiond/b.crt", "/etc/provisiond/c.crt"}
	if got := inputPaths(cfg); !slices.Equal(got, want) {
		t.Fatalf("inputPaths = %q, want %q", got, want)
	}
}
