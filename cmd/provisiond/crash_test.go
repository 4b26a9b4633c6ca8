package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/watch"
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
	killWhileProvisioning(t, fastRetry, nil)
}

// killWhileProvisioning is the SIGKILL test with extra config; it returns
// the identity the device ends registered with, its pair checked. afterKill,
// when set, runs after each killed run has exited.
func killWhileProvisioning(t *testing.T, yaml string, afterKill func()) (store.Credentials, *config.Config) {
	t.Helper()
	const kills = 20
	bin := buildDaemon(t)
	delay, err := fleetsim.ParseFault("any:delay=40ms")
	if err != nil {
		t.Fatal(err)
	}
	path, srv := startEmulator(t, fleetsim.Options{Faults: []fleetsim.Fault{delay}}, yaml)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := killInstants(t)
	// The log of the last killed run, shown with the final run's when the
	// test fails: what a kill left is in the one, what came of it in the other.
	var killedLog bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", path)
		killedLog.Reset()
		cmd.Stdout, cmd.Stderr = nil, &killedLog
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// Kill until 20 kills have landed mid-provisioning. Once a run gets
	// through, a reprovision request makes the next run provision anew.
	files := store.ReadOnlyDir(cfg.StateDirectory)
	var midway, reprovisions, runs int
	for midway < kills {
		if runs++; runs > 10*kills {
			t.Fatalf("only %d of %d runs were killed mid-provisioning", midway, runs)
		}
		if st, _ := store.LoadState(files); st.Phase == store.Registered {
			req := filepath.Join(cfg.StateDirectory, store.ReprovisionRequestFile)
			if err := atomicfile.Write(req, []byte("test\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			reprovisions++
		}
		cmd := start()
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if afterKill != nil {
			afterKill()
		}
		st, err := store.LoadState(files)
		if err != nil {
			t.Fatalf("run %d: state unreadable after SIGKILL: %v", runs, err)
		}
		if st.Phase != store.Registered {
			midway++
		}
	}

	// The last run reports to a fake service manager, so that SIGTERM comes
	// once it is READY, as it would from systemd.
	notify := listenNotify(t)
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.LocalAddr().String())
	// Read only once Wait has returned, when exec has copied all of it.
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !t.Failed() {
			return
		}
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		t.Logf("the last killed run's log:\n%s\nthe final run's log:\n%s", killedLog.String(), stderr.String())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	awaitNotify(t, notify, "READY=1")
	creds, err := waitForRegistered(ctx, cfg.StateDirectory, "")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	werr := waitStopped(t, cmd, &stderr)
	stopped = true
	if werr != nil {
		t.Errorf("daemon did not stop cleanly on SIGTERM: %v", werr)
	}
	awaitNotify(t, notify, "STOPPING=1")
	if err != nil {
		t.Fatalf("not registered after %d kills: %v", kills, err)
	}
	// A key in a PKCS#11 token has no file: the caller checks it there.
	if creds.PrivateKeyType != store.PrivateKeyPKCS11 {
		certPEM, _ := os.ReadFile(creds.CertificateFile)
		keyPEM, _ := os.ReadFile(creds.PrivateKeyFile)
		if err := tpmkey.CheckPair(certPEM, keyPEM); err != nil {
			t.Fatalf("certificate and key do not match: %v", err)
		}
	}
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
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
	if orphans > runs+reprovisions {
		t.Fatalf("%d abandoned certificates after %d kills and %d reprovisions", orphans, runs, reprovisions)
	}
	t.Logf("%d kills (%d mid-provisioning), %d reprovisions, %d abandoned certificates, registered as %s",
		runs, midway, reprovisions, orphans, creds.ThingName)
	return creds, cfg
}

// The SIGKILL test with the key in the TPM, kept at a persistent handle:
// swtpm keeps running while the daemon is killed and restarted; the device
// ends registered with the TPM's key, the handle holds that key (a kill
// between making it persistent and the save is adopted on restart), and
// no private key material is left in the state folder.
func TestSIGKILLWithTheKeyInTheTPM(t *testing.T) {
	sw := tpmtest.Start(t)
	const handle = "0x81000020"
	_, cfg := killWhileProvisioning(t, fastRetry+tpmYAML(sw, "ec-p256", handle), nil)
	creds := tpmCredentials(t, cfg)
	if creds.PrivateKeyHandle != handle {
		t.Fatalf("privateKeyHandle %q, want %s", creds.PrivateKeyHandle, handle)
	}
	assertTPMKeyIsTheCertificates(t, sw, creds)
	assertNoPrivateKeyMaterial(t, cfg.StateDirectory)
	assertKeyAtHandle(t, sw, handle, creds)
}

// notifySocket is a service manager's notify socket for a test. It reads
// every notification as it comes, as systemd does: a socket nobody reads
// fills after a few datagrams, and the daemon's next notify then blocks.
type notifySocket struct {
	conn *net.UnixConn
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	addr := &net.UnixAddr{Name: filepath.Join(t.TempDir(), "notify"), Net: "unixgram"}
	conn, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{conn: conn, msgs: make(chan string, 100000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			size, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			for _, line := range strings.Split(string(buf[:size]), "\n") {
				n.msgs <- line
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

// LocalAddr is the socket's address, for NOTIFY_SOCKET.
func (n *notifySocket) LocalAddr() net.Addr { return n.conn.LocalAddr() }

// awaitNotify waits until a notification holds want, for at most 30 s.
func awaitNotify(t *testing.T, n *notifySocket, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-n.msgs:
			if !ok {
				t.Fatalf("no %s from the daemon: the socket closed", want)
			}
			if line == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %s from the daemon within 30 s", want)
		}
	}
}

// waitForRegistered waits until the state is registered and credentials.json
// names the state's certificate (a reprovision keeps the old bundle until the
// new one is ready), one other than notID when that is set.
func waitForRegistered(ctx context.Context, dir, notID string) (store.Credentials, error) {
	var creds store.Credentials
	var st store.State
	err := awaitInDir(ctx, dir, func() bool {
		var err error
		if creds, err = store.WaitForCredentials(ctx, dir, notID); err != nil {
			return true
		}
		st, err = store.LoadState(store.ReadOnlyDir(dir))
		return err == nil && st.Phase == store.Registered && st.CertificateID == creds.CertificateID
	})
	if err != nil {
		return creds, fmt.Errorf("state %s, credentials for %s: %w", st.Phase, creds.CertificateID, err)
	}
	return creds, ctx.Err()
}

// awaitInDir returns once done holds, checking it at first and after each
// change in dir or its subfolders: the test waits on the daemon's writes. A
// folder removed and made again is re-scanned by the watch once it is
// watched again, so that writes made in that instant are reported too. A
// dir the daemon has not made yet is watched from its parent, subfolders
// included.
func awaitInDir(ctx context.Context, dir string, done func() bool) error {
	root := dir
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		root = filepath.Dir(dir)
	}
	changed := make(chan struct{}, 1)
	w, err := watch.Start(ctx, watch.Options{Paths: []string{root}, Subfolders: true, Debounce: time.Millisecond}, func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer w.Close()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
	return nil
}

// waitStopped waits for the daemon asked to stop. One that has not stopped
// after 20 s is a failure: SIGQUIT makes it print its goroutines, which the
// test log keeps, instead of the test hanging until its deadline.
func waitStopped(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		err := <-done
		t.Errorf("the daemon did not stop within 20 s of SIGTERM; its goroutines:\n%s", stderr.String())
		return err
	}
}
