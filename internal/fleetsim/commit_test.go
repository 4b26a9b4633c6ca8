package fleetsim

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// A registration whose commit fails is answered 500 InternalFailure, after the commit was
// tried and not before, and leaves nothing in the registry: no thing, the certificate
// still pending. Its token stays usable once commits succeed again.
func TestFailedCommitRejectsEveryAnswerInIt(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	const topic = "$aws/provisioning-templates/GatewayTemplate/provision/json"
	type device struct {
		c       paho.Client
		answers chan message
		request []byte
	}
	ds := make([]device, 4)
	for i := range ds {
		c := dial(t, s.Addr(), claimTLS(t, dir), fmt.Sprintf("commit-%d", i))
		t.Cleanup(func() { c.Disconnect(0) })
		_, csr := newCSR(t)
		var iss issued
		wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
			marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
		ds[i] = device{c: c, answers: subscribe(t, c, topic+"/+"), request: marshal(t, "json", map[string]any{
			"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters":                map[string]string{"SerialNumber": fmt.Sprintf("commit-%d", i)}})}
	}
	answer := func(d device) message {
		t.Helper()
		select {
		case m := <-d.answers:
			return m
		case <-time.After(waitFor):
			t.Fatal("no answer to RegisterThing")
		}
		return message{}
	}

	// Each failed batch's answers may be published once its commit failed: at every commit
	// tried, no more answers may be out than the batches before it held.
	var mu sync.Mutex
	tried, early := 0, 0
	if err := s.reg.SetBeforeCommit(func(n int) error {
		mu.Lock()
		defer mu.Unlock()
		out := 0
		for _, d := range ds {
			out += len(d.answers)
		}
		early = max(early, out-tried)
		tried += n
		return errors.New("disk on fire")
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		d.c.Publish(topic, 1, false, d.request)
	}
	for _, d := range ds {
		wantRejected(t, "json", answer(d), 500, codeInternalFailure)
	}
	mu.Lock()
	if early != 0 {
		t.Errorf("%d answers were published before their commit was tried", early)
	}
	mu.Unlock()
	snap := s.Snapshot()
	if len(snap.Things) != 0 {
		t.Errorf("things after the failed commits: %+v", snap.Things)
	}
	for _, c := range snap.Certificates {
		if c.Kind == KindDevice && c.Status != StatusPendingActivation {
			t.Errorf("certificate %s is %s after its registration's commit failed", c.CertificateID, c.Status)
		}
	}

	if err := s.reg.SetBeforeCommit(nil); err != nil {
		t.Fatal(err)
	}
	ds[0].c.Publish(topic, 1, false, ds[0].request)
	var reg registered
	wantAccepted(t, "json", answer(ds[0]), &reg)
	if reg.ThingName != "gw-commit-0" {
		t.Errorf("registered %q once commits succeed again, want gw-commit-0", reg.ThingName)
	}
}
