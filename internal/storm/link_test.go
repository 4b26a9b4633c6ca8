package storm

import (
	"context"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// Across an emulated link every device pays at least its round trips: TCP,
// TLS, CONNECT, the SUBSCRIBE and two calls. Lower bound only.
func TestStormAcrossLink(t *testing.T) {
	const rtt = 30 * time.Millisecond
	res, err := Run(context.Background(), Options{Dir: newDir(t), Devices: 2, Concurrency: 2, Prefix: "link",
		Link: fleetsim.Link{RTT: rtt}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Provisioned != 2 {
		t.Fatalf("provisioned %d/2: %v", res.Provisioned, res.Failures)
	}
	if fastest := res.Latencies[0]; fastest < 6*rtt {
		t.Errorf("fastest device took %s across a %s link, want at least %s", fastest, rtt, 6*rtt)
	}
}
