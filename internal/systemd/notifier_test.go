package systemd

import (
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// fakeManager listens where NOTIFY_SOCKET points, like systemd does.
func fakeManager(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "n.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

// receive reads n datagrams; the deadline only bounds a broken test.
func receive(t *testing.T, conn *net.UnixConn, n int) []string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 4096)
	for range n {
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:k]))
	}
	return got
}

func TestNotifierSendsInOrder(t *testing.T) {
	conn := fakeManager(t)
	n := NewNotifier(zaptest.NewLogger(t))
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}

	n.Status("loading state")
	n.Ready()
	n.Status("loading state") // unchanged: not sent
	n.Status("unprovisioned: connecting")
	n.Status("unprovisioned: connecting") // unchanged: not sent
	n.Watchdog()
	n.Status("line one\nline two")
	n.Stopping()

	want := []string{
		"STATUS=loading state",
		"READY=1\nSTATUS=loading state",
		"STATUS=unprovisioned: connecting",
		"WATCHDOG=1",
		"STATUS=line one line two",
		"STOPPING=1",
	}
	got := receive(t, conn, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("datagrams:\n got %q\nwant %q", got, want)
	}
}

func TestReadyWithoutStatus(t *testing.T) {
	conn := fakeManager(t)
	n := NewNotifier(nil)
	n.Ready()
	if got := receive(t, conn, 1); got[0] != "READY=1" {
		t.Fatalf("got %q, want READY=1", got[0])
	}
}

func TestNoNotifySocketIsANoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	core, logs := observer.New(zapcore.DebugLevel)
	n := NewNotifier(zap.New(core))
	calls := 0
	n.send = func(string) (bool, error) { calls++; return false, nil }

	n.Ready()
	n.Status("x")
	n.Watchdog()
	n.Stopping()

	if n.Enabled() || calls != 0 || logs.Len() != 0 {
		t.Fatalf("enabled=%v sends=%d logs=%d, want a silent no-op", n.Enabled(), calls, logs.Len())
	}
}

func TestNilNotifierIsANoOp(t *testing.T) {
	var n *Notifier
	n.Ready()
	n.Status("x")
	n.Watchdog()
	n.Stopping()
}

func TestSocketGoneLogsOnceAndRetriesStatus(t *testing.T) {
	// NOTIFY_SOCKET names a path where nobody listens.
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	core, logs := observer.New(zapcore.DebugLevel)
	n := NewNotifier(zap.New(core))

	n.Status("a")
	n.Watchdog()
	n.Watchdog()
	if w := logs.FilterLevelExact(zapcore.WarnLevel).Len(); w != 1 {
		t.Fatalf("%d warnings for one outage, want 1", w)
	}
	if d := logs.FilterLevelExact(zapcore.DebugLevel).Len(); d != 2 {
		t.Fatalf("%d debug lines for later failures, want 2", d)
	}

	// A status that was never delivered is sent again once possible.
	var sent []string
	n.send = func(s string) (bool, error) { sent = append(sent, s); return true, nil }
	n.Status("a")
	if !slices.Equal(sent, []string{"STATUS=a"}) {
		t.Fatalf("sent %q, want the undelivered status again", sent)
	}
	if logs.FilterMessage("service manager notifications delivered again").Len() != 1 {
		t.Fatal("recovery not logged")
	}
}

func TestSendErrorNamesTheNotification(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "@x")
	core, logs := observer.New(zapcore.DebugLevel)
	n := NewNotifier(zap.New(core))
	n.send = func(string) (bool, error) { return false, errors.New("boom") }
	n.Ready()
	e := logs.All()
	if len(e) != 1 || e[0].ContextMap()["notification"] != "READY=1" || e[0].ContextMap()["error"] != "boom" {
		t.Fatalf("log = %+v", e)
	}
}

// The state machine's Notifier interface, restated so that this package does
// not import the state machine.
var _ interface {
	Ready()
	Status(text string)
	Watchdog()
	Stopping()
} = (*Notifier)(nil)
