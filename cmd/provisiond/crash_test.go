package main

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// buildDaemon compiles the real provisiond binary for tests that kill it.
func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "provisiond")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// SIGKILL the real binary at random instants while it provisions against a
// slow emulator: every restart resumes from a readable state, and the device
// ends registered with a matching pair and at most one orphan per kill.
func TestSIGKILLAtRandomInstantsNeverLosesTheIdentity(t *testing.T) {
	const kills = 20
	bin := buildDaemon(t)
	delay, err := fleetsim.ParseFault("any:delay=40ms")
	if err != nil {
		t.Fatal(err)
	}
	path, srv := startEmulator(t, fleetsim.Options{Faults: []fleetsim.Fault{delay}}, fastRetry)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", path)
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	for i := 0; i < kills; i++ {
		cmd := start()
		// Spread the kill over start-up, the two calls and the proving connect.
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		files := readOnlyDir(cfg.StateDirectory)
		if _, err := store.LoadState(files); err != nil {
			t.Fatalf("kill %d: state unreadable after SIGKILL: %v", i+1, err)
		}
	}

	cmd := start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	creds, err := waitForCredentials(ctx, cfg.StateDirectory, "")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if werr := cmd.Wait(); werr != nil {
		t.Errorf("daemon did not stop cleanly on SIGTERM: %v", werr)
	}
	if err != nil {
		t.Fatalf("not registered after %d kills: %v", kills, err)
	}
	certPEM, _ := os.ReadFile(creds.CertificateFile)
	keyPEM, _ := os.ReadFile(creds.PrivateKeyFile)
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	st, err := store.LoadState(readOnlyDir(cfg.StateDirectory))
	if err != nil || st.Phase != store.Registered {
		t.Fatalf("state %q, %v; want registered", st.Phase, err)
	}
	reg := srv.Snapshot()
	abandoned := map[string]bool{}
	for _, c := range append(reg.Certificates, reg.Orphans...) {
		if c.Kind == "device" && c.CertificateID != creds.CertificateID {
			abandoned[c.CertificateID] = true
		}
	}
	orphans := len(abandoned)
	if orphans > kills {
		t.Fatalf("%d orphaned certificates after %d kills", orphans, kills)
	}
	t.Logf("%d kills, %d orphaned certificates, registered as %s", kills, orphans, creds.ThingName)
}
