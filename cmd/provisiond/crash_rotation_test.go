package main

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// SIGKILL the real binary at random instants while it rotates 3-second
// certificates by itself: every restart resumes from a readable state with
// credentials.json naming a working pair, and the device ends registered,
// with at most one never-registered certificate per kill.
func TestSIGKILLDuringRotationNeverLosesTheIdentity(t *testing.T) {
	const kills = 20
	bin := buildDaemon(t)
	delay, err := fleetsim.ParseFault("any:delay=40ms")
	if err != nil {
		t.Fatal(err)
	}
	path, srv := startEmulator(t, fleetsim.Options{Faults: []fleetsim.Fault{delay}, CertificateValidity: 3 * time.Second},
		fastRetry+"rotation:\n  before_expiry: 50%\n")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	files := store.ReadOnlyDir(cfg.StateDirectory)
	checkHandoff := func(when string) {
		t.Helper()
		c, err := store.ReadCredentials(files.Path(store.CredentialsFile))
		if err != nil {
			t.Fatalf("%s: credentials.json: %v", when, err)
		}
		certPEM, cerr := os.ReadFile(c.CertificateFile)
		keyPEM, kerr := os.ReadFile(c.PrivateKeyFile)
		if cerr != nil || kerr != nil {
			t.Fatalf("%s: credentials.json names missing files: %v %v", when, cerr, kerr)
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil || pemCertificateID(certPEM) != c.CertificateID {
			t.Fatalf("%s: credentials.json names a certificate and key that do not pair (%v)", when, err)
		}
	}

	// A first run provisions; every later one finds its identity due (a
	// 3-second certificate) and rotates it, killed at a random instant.
	first := exec.Command(bin, "run", "--config", path)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	creds, err := waitForRegistered(ctx, cfg.StateDirectory, "")
	cancel()
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	if err != nil {
		t.Fatalf("not registered at first: %v", err)
	}
	rng := killInstants(t)
	handed := map[string]bool{creds.CertificateID: true}
	var midway, runs int
	for midway < kills {
		if runs++; runs > 10*kills {
			t.Fatalf("only %d of %d runs were killed mid-rotation", midway, runs)
		}
		cmd := exec.Command(bin, "run", "--config", path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Each identity is due about a second after its handover: the kill
		// comes at a random instant once this run has started rotating.
		rotating, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = awaitInDir(rotating, cfg.StateDirectory, func() bool { // else the kill comes anyway
			st, err := store.LoadState(files)
			return err == nil && st.Renewal == store.RenewalRotation
		})
		cancel()
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		st, err := store.LoadState(files)
		if err != nil {
			t.Fatalf("run %d: state unreadable after SIGKILL: %v", runs, err)
		}
		checkHandoff("after a SIGKILL")
		if st.Renewal == store.RenewalRotation && st.Phase != store.Registered {
			midway++
		}
		if c, err := store.ReadCredentials(files.Path(store.CredentialsFile)); err == nil {
			handed[c.CertificateID] = true
		}
	}

	notify := listenNotify(t)
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.LocalAddr().String())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	awaitNotify(t, notify, "READY=1")
	creds, err = waitForRegistered(ctx, cfg.StateDirectory, "")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if werr := cmd.Wait(); werr != nil {
		t.Errorf("daemon did not stop cleanly on SIGTERM: %v", werr)
	}
	if err != nil {
		t.Fatalf("not registered after %d kills: %v", runs, err)
	}
	checkHandoff("at the end")
	reg := srv.Snapshot()
	unregistered := len(reg.Orphans)
	for _, c := range reg.Certificates {
		if c.Kind == "device" && c.ThingName == "" {
			unregistered++
		}
	}
	if unregistered > runs {
		t.Fatalf("%d certificates never registered after %d kills", unregistered, runs)
	}
	t.Logf("%d kills (%d mid-rotation), %d identities handed over, %d certificates never registered, registered as %s",
		runs, midway, len(handed), unregistered, creds.ThingName)
}
