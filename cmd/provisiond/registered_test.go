package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// While the daemon runs registered: a removed credentials.json comes back,
// and `provisiond reprovision` gets a new identity without a restart.
func TestRunningDaemonRestoresHandoffAndReprovisions(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry)
	cfg, _, _ := runningDaemon(t, path)
	first := registered(t, cfg.StateDirectory)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()

	credsPath := filepath.Join(cfg.StateDirectory, store.CredentialsFile)
	if err := os.Remove(credsPath); err != nil {
		t.Fatal(err)
	}
	restored, err := store.WaitForCredentials(wctx, cfg.StateDirectory, "")
	if err != nil {
		t.Fatalf("credentials.json not restored: %v", err)
	}
	if restored.CertificateID != first.CertificateID {
		t.Fatalf("restored bundle names %s, want %s", restored.CertificateID, first.CertificateID)
	}

	var out, errOut bytes.Buffer
	if code := runCLI([]string{"reprovision", "--wait", "20s", "--config", path}, &out, &errOut); code != 0 {
		t.Fatalf("reprovision exit %d: %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "no daemon") {
		t.Errorf("reprovision with the daemon running said: %s", errOut.String())
	}
	second, err := waitForRegistered(wctx, cfg.StateDirectory, "")
	if err != nil {
		t.Fatal(err)
	}
	if second.CertificateID == first.CertificateID || second.CertificateFile == first.CertificateFile {
		t.Fatalf("reprovision kept the identity: %+v", second)
	}
	// The previous identity stays for consumers that have not re-read the
	// bundle yet; a second reprovision retires it, and only then is its
	// private key removed.
	if _, err := os.Stat(first.PrivateKeyFile); err != nil {
		t.Fatalf("the previous identity's key went at the switch: %v", err)
	}
	if code := runCLI([]string{"reprovision", "--wait", "20s", "--config", path}, &out, &errOut); code != 0 {
		t.Fatalf("second reprovision exit %d: %s", code, errOut.String())
	}
	third, err := waitForRegistered(wctx, cfg.StateDirectory, "")
	if err != nil {
		t.Fatal(err)
	}
	err = awaitInDir(wctx, cfg.StateDirectory, func() bool {
		_, err := os.Stat(first.PrivateKeyFile)
		return os.IsNotExist(err)
	})
	if err != nil {
		t.Fatalf("the first identity's key is still there two switches later: %v", err)
	}
	if _, err := os.Stat(second.PrivateKeyFile); err != nil || third.CertificateID == second.CertificateID {
		t.Fatalf("after the second switch the previous identity must stay: %v", err)
	}
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if err != nil {
		t.Fatal(err)
	}
	var recorded bool
	for _, o := range st.Orphans {
		recorded = recorded || o.CertificateID == first.CertificateID
	}
	if !recorded {
		t.Fatalf("the old certificate is not recorded as abandoned: %+v", st.Orphans)
	}
}
