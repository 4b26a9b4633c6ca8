package tpmtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/proc"
	"github.com/provisiond/provisiond/internal/testtool/swtpm"
)

// TCTI returns the tpm2-tss TCTI string that reaches s directly, for
// tools such as tpm2-tools and OpenSSL's tpm2 provider. Without a resource
// manager, a tool that needs more than the simulator's three object slots
// (a TLS handshake through the tpm2 provider does) fails with
// TPM_RC_OBJECT_MEMORY; use ABRMD for those.
func (s *SWTPM) TCTI() string {
	return fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", s.Port)
}

// tabrmdLibrary is the TCTI that tpm2-tss clients load to reach
// tpm2-abrmd; Debian ships it apart from the daemon.
const tabrmdLibrary = "libtss2-tcti-tabrmd.so.0"

// ABRMD starts a private D-Bus session bus and tpm2-abrmd on it, as the
// resource manager in front of s, and returns the environment a tpm2-tss
// client (OpenSSL's tpm2 provider) needs to use it. Both stop, by PID,
// when the test ends. While it runs, abrmd is s's only client.
func (s *SWTPM) ABRMD(tb testing.TB) []string {
	tb.Helper()
	dbus := testtool.Need(tb, "dbus-daemon", "dbus")
	abrmd := testtool.Need(tb, "tpm2-abrmd", "tpm2-abrmd")
	needLibrary(tb, tabrmdLibrary, "libtss2-tcti-tabrmd0")

	bus := exec.Command(dbus, "--session", "--nofork", "--print-address=1", "--nopidfile")
	out, err := bus.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	startChild(tb, bus)
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	var busAddr string
	select {
	case busAddr = <-addr:
	case <-time.After(swtpm.StartTimeout):
		tb.Fatal("dbus-daemon printed no address")
	}
	env := append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+busAddr, "TPM2OPENSSL_TCTI=tabrmd:bus_type=session")

	rm := exec.Command(abrmd, "--session", "--allow-root", "--flush-all", "--tcti="+s.TCTI())
	rm.Env = env
	rm.Stdout, rm.Stderr = &logWriter{tb, "tpm2-abrmd"}, &logWriter{tb, "tpm2-abrmd"}
	startChild(tb, rm)
	deadline := time.Now().Add(swtpm.StartTimeout)
	for time.Now().Before(deadline) {
		q := exec.Command("dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
			"/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:com.intel.tss2.Tabrmd")
		q.Env = env
		if reply, err := q.Output(); err == nil && strings.Contains(string(reply), "boolean true") {
			return env
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("tpm2-abrmd did not register on the session bus")
	return nil
}

// OpenSSLHandshake runs `openssl s_client -provider tpm2 -provider
// default` with a TSS2 key file (or handle:0x81…) and its certificate
// against addr, TLS 1.3, in env (from ABRMD), and returns its output. It
// fails the test unless the handshake completes and the server's greeting
// arrives.
func OpenSSLHandshake(tb testing.TB, env []string, addr, keyFile, certFile, caFile string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := OpenSSLClient(ctx, tb, env, addr, keyFile, certFile, caFile, "-ign_eof")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello") {
		tb.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	return string(out)
}

// OpenSSLClient is the `openssl s_client -provider tpm2 -provider default`
// command that connects to addr with a TSS2 key file (or handle:0x81…) and
// its certificate, TLS 1.3, verifying the server against caFile, in env
// (from ABRMD), with extra options after those.
func OpenSSLClient(ctx context.Context, tb testing.TB, env []string, addr, keyFile, certFile, caFile string, extra ...string) *exec.Cmd {
	tb.Helper()
	openssl := testtool.Need(tb, "openssl", "openssl")
	needLibrary(tb, "ossl-modules/tpm2.so", "tpm2-openssl")
	args := append([]string{"s_client", "-provider", "tpm2", "-provider", "default",
		"-key", keyFile, "-cert", certFile, "-CAfile", caFile, "-connect", addr,
		"-servername", "localhost", "-tls1_3", "-verify_return_error"}, extra...)
	cmd := exec.CommandContext(ctx, openssl, args...)
	cmd.Env = env
	return cmd
}

// needLibrary skips (fails under CI) when no lib directory holds name.
func needLibrary(tb testing.TB, name, debianPackage string) {
	tb.Helper()
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return
		}
	}
	msg := name + " is not installed (apt-get install " + debianPackage + ")"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + "; .ci/run installs it, so CI must have it")
	}
	tb.Skip(msg)
}

// startChild starts cmd and stops it by PID when the test ends.
func startChild(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	p, err := proc.Start(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Stop)
}

type logWriter struct {
	tb   testing.TB
	name string
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s: %s", w.name, strings.TrimSpace(string(p)))
	return len(p), nil
}
