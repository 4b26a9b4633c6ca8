package statemachine

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/store"
)

// TestOnDiskHandoff provisions into a real state directory and reads the
// handoff the way a consumer does, with every check store.ReadCredentials
// makes.
func TestOnDiskHandoff(t *testing.T) {
	for _, tc := range []struct {
		method  string
		refused bool // the first token is refused: identity 1 is abandoned
	}{{MethodCSR, false}, {MethodCreateKeys, false}, {MethodCSR, true}} {
		method := tc.method
		t.Run(fmt.Sprintf("%s refused=%v", method, tc.refused), func(t *testing.T) {
			dir := t.TempDir()
			rootCA := filepath.Join(dir, "AmazonRootCA1.pem")
			caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testCA().cert.Raw})
			if err := os.WriteFile(rootCA, caPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			files, err := store.OpenDir(filepath.Join(dir, "state"))
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, method, autoClock)
			h.settings.RootCAFile = rootCA
			if tc.refused {
				h.svc.fail("register", errToken)
			}
			notify := newFakeNotifier()
			h.saves = make(chan store.State, 10000)
			r, err := New(h.settings, Deps{Files: files, Dialer: h.svc, Clock: h.clock, Notify: notify,
				Logger: zaptest.NewLogger(t), Boot: h.clock, Rand: h.rand, OnSave: func(s store.State) { h.saves <- s }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			h.notify = notify
			h.waitSaved(registeredAs(""))
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return")
			}
			c, err := store.ReadCredentials(files.Path(store.CredentialsFile))
			if err != nil {
				t.Fatalf("a consumer cannot use the handoff: %v", err)
			}
			if tc.refused {
				if _, err := os.Stat(filepath.Join(dir, "state", "identities", "1")); !os.IsNotExist(err) {
					t.Errorf("the abandoned identity's folder remains: %v", err)
				}
			}
			if c.ThingName != "thing-1" || c.RootCAFile != rootCA || !filepath.IsAbs(c.PrivateKeyFile) {
				t.Errorf("credentials %+v", c)
			}
			fi, err := os.Stat(c.PrivateKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != keystore.KeyFileMode {
				t.Errorf("private key mode %o, want %o", fi.Mode().Perm(), keystore.KeyFileMode)
			}
		})
	}
}
