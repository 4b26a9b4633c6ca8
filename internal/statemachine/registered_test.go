package statemachine

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/store"
)

// registeredHarness runs a Runner to registered and leaves it running.
// Passes through the named points are sent on the returned channel.
func registeredHarness(t *testing.T, mode clockMode) (*harness, *Runner, chan string) {
	t.Helper()
	h := newHarness(t, MethodCSR, mode)
	points := make(chan string, 100)
	h.crash = func(p string) { points <- p }
	r := h.start()
	h.waitSaved(registeredAs("thing-1"))
	return h, r, points
}

func waitPoint(t *testing.T, points chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p := <-points:
			if p == want {
				return
			}
		case <-deadline:
			t.Fatalf("point %s not reached", want)
		}
	}
}

func TestReprovision(t *testing.T) {
	for _, how := range []string{"request file", "request file at start"} {
		t.Run(how, func(t *testing.T) {
			h, r, _ := registeredHarness(t, autoClock)
			first := h.state()
			oldCert, _ := h.files.Read(first.CertificateFile)
			oldKey, _ := h.files.Read(first.KeyFile)
			// Files an older credentials.json names never change while it
			// names them: check them as the new one replaces it.
			var intact atomic.Int32
			h.files.mu.Lock()
			h.files.before = func(name string, data []byte) {
				if name != store.CredentialsFile || !strings.Contains(string(data), "thing-2") {
					return
				}
				c, _ := h.files.Read(first.CertificateFile)
				k, _ := h.files.Read(first.KeyFile)
				if string(c) == string(oldCert) && string(k) == string(oldKey) {
					intact.Add(1)
				}
			}
			h.files.mu.Unlock()
			switch how {
			case "request file":
				if err := h.files.Write(store.ReprovisionRequestFile, []byte("now\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				r.HandoffChanged()
			case "request file at start":
				if err := h.stop(); err != nil {
					t.Fatal(err)
				}
				if err := h.files.Write(store.ReprovisionRequestFile, []byte("now\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				h.start()
			}
			h.finish(registeredAs("thing-2"))
			st := checkRegistered(t, h)
			want := []store.Phase{unprov, pending, regd, unprov, pending, regd}
			if got := h.files.Phases(); !slices.Equal(got, want) {
				t.Errorf("phases = %v, want %v", got, want)
			}
			if st.Identity != 2 || st.CertificateID == first.CertificateID {
				t.Errorf("identity %d certificate %s: not a new identity", st.Identity, st.CertificateID)
			}
			if len(st.Orphans) != 1 || st.Orphans[0].CertificateID != first.CertificateID ||
				!strings.Contains(st.Orphans[0].Reason, "reprovision") || !strings.Contains(st.Orphans[0].Reason, "thing-1") {
				t.Errorf("orphans %+v, want the old identity recorded", st.Orphans)
			}
			if intact.Load() != 1 {
				t.Error("the old identity's files changed before the new credentials.json replaced the old")
			}
			// The previous identity stays for consumers that have not yet
			// re-read credentials.json; the next switch removes it.
			if !h.exists(first.CertificateFile) || !h.exists(first.KeyFile) {
				t.Error("the previous identity's files were removed at the switch")
			}
			if h.exists(store.ReprovisionRequestFile) {
				t.Error("the request file was not removed")
			}
		})
	}
}

func (h *harness) exists(name string) bool {
	_, err := h.files.Read(name)
	return err == nil
}

func TestRequestFileWhileUnprovisionedIsServedByTheComingIdentity(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	if err := h.files.Write(store.ReprovisionRequestFile, []byte("now\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := h.provision(registeredAs("thing-1"))
	if st.Identity != 1 || len(st.Orphans) != 0 || h.exists(store.ReprovisionRequestFile) {
		t.Errorf("identity %d orphans %v request left %v", st.Identity, st.Orphans, h.exists(store.ReprovisionRequestFile))
	}
}

func TestHandoffRestore(t *testing.T) {
	tests := []struct {
		name   string
		damage func(h *harness) error
	}{
		{"removed", func(h *harness) error { return h.files.Remove(store.CredentialsFile) }},
		{"garbage", func(h *harness) error { return h.files.Write(store.CredentialsFile, []byte("{\"thingN"), 0o644) }},
		{"another identity", func(h *harness) error {
			data, _ := h.files.Read(store.CredentialsFile)
			return h.files.Write(store.CredentialsFile, []byte(strings.ReplaceAll(string(data), "thing-1", "thing-9")), 0o644)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, r, points := registeredHarness(t, autoClock)
			orig, err := h.files.Read(store.CredentialsFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(h); err != nil {
				t.Fatal(err)
			}
			calls := len(h.svc.Calls())
			r.HandoffChanged()
			waitPoint(t, points, PointRestored)
			if got, _ := h.files.Read(store.CredentialsFile); string(got) != string(orig) {
				t.Errorf("restored credentials.json:\n%s\nwant:\n%s", got, orig)
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			st := checkRegistered(t, h)
			if st.Identity != 1 || len(h.svc.Calls()) != calls {
				t.Error("restoring the handoff touched the service or the identity")
			}
		})
	}
}

func TestLostIdentityFilesGetANewIdentity(t *testing.T) {
	h, r, _ := registeredHarness(t, autoClock)
	first := h.state()
	if err := h.files.Remove(first.KeyFile); err != nil {
		t.Fatal(err)
	}
	r.HandoffChanged()
	h.finish(registeredAs("thing-2"))
	st := checkRegistered(t, h)
	if len(st.Orphans) != 1 || !strings.Contains(st.Orphans[0].Reason, "identity files unusable") {
		t.Errorf("orphans %+v", st.Orphans)
	}
}

func TestRegisteredIsIdle(t *testing.T) {
	h, r, points := registeredHarness(t, testClock)
	calls := len(h.svc.Calls())
	r.Kick()
	h.clock.Advance(24 * time.Hour)
	r.Kick()
	// A restore proves the loop went round after the kicks.
	if err := h.files.Remove(store.CredentialsFile); err != nil {
		t.Fatal(err)
	}
	r.HandoffChanged()
	waitPoint(t, points, PointRestored)
	if n := len(h.svc.Calls()); n != calls {
		t.Errorf("%d service calls while registered", n-calls)
	}
	if w := h.clock.Waits(); len(w) != 0 {
		t.Errorf("timers armed while registered: %v", w)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestStartingOverKeepsHandedOverFiles moves the state file aside, as the
// corrupt-state message suggests: the next identity must not overwrite the
// files the existing credentials.json names.
func TestStartingOverKeepsHandedOverFiles(t *testing.T) {
	for _, method := range []string{MethodCSR, MethodCreateKeys} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, method, autoClock)
			h.runUntil(registeredAs("thing-1"))
			first := h.state()
			oldKey, _ := h.files.Read(first.KeyFile)
			oldCert, _ := h.files.Read(first.CertificateFile)
			if err := h.files.Remove(store.StateFile); err != nil {
				t.Fatal(err)
			}
			st := h.provision(registeredAs("thing-2"))
			if st.Identity != 2 {
				t.Errorf("identity %d, want 2: number 1 is taken on disk", st.Identity)
			}
			// Never overwritten, and kept as the previous identity once the
			// new credentials.json names identity 2.
			if k, err := h.files.Read(first.KeyFile); err != nil || string(k) != string(oldKey) {
				t.Errorf("the handed-over key was overwritten or removed (%v)", err)
			}
			if c, err := h.files.Read(first.CertificateFile); err != nil || string(c) != string(oldCert) {
				t.Errorf("the handed-over certificate was overwritten or removed (%v)", err)
			}
		})
	}
}
