package storm

import (
	"net"
	"os"
	"testing"
)

// The process listening on a loopback port is found through /proc, and its CPU time read.
func TestListenerPIDAndCPUTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if pid := listenerPID(ln.Addr().String()); pid != os.Getpid() {
		t.Fatalf("listenerPID(%s) = %d, want this process, %d", ln.Addr(), pid, os.Getpid())
	}
	for i := 0; i < 1e7; i++ { // spend some CPU, so that the counter has ticked
		_ = i * i
	}
	if cpu, err := cpuTime(os.Getpid()); err != nil || cpu < 0 {
		t.Fatalf("cpuTime: %v %v", cpu, err)
	}
	_ = ln.Close()
	if pid := listenerPID(ln.Addr().String()); pid != 0 {
		t.Errorf("listenerPID of a closed port = %d, want 0", pid)
	}
	if pid := listenerPID("192.0.2.1:8883"); pid != 0 {
		t.Errorf("listenerPID of an address not on this machine = %d, want 0", pid)
	}
}
