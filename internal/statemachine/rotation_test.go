package statemachine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/rotation"
	"github.com/provisiond/provisiond/internal/store"
)

const day = 24 * time.Hour

// rotatingHarness is registered as thing-1 under policy, its clock moved
// only by the test, the Runner left running.
func rotatingHarness(t *testing.T, set func(*Settings)) (*harness, *Runner) {
	t.Helper()
	h := newHarness(t, MethodCSR, testClock)
	set(&h.settings)
	r := h.start()
	h.waitSaved(registeredAs("thing-1"))
	return h, r
}

// wantSchedule is the policy's due time for the identity in st, from its
// certificate.
func wantSchedule(t *testing.T, h *harness, st store.State) rotation.Schedule {
	t.Helper()
	data, err := h.files.Read(st.CertificateFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keypair.Certificate(data)
	if err != nil {
		t.Fatal(err)
	}
	s, ok, err := h.settings.Rotation.Due(rotation.Identity{Key: st.CertificateID, ProvisionedAt: st.ProvisionedAt,
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter})
	if err != nil || !ok {
		t.Fatalf("Due: %v %v", ok, err)
	}
	return s
}

// armedAtLeast waits for a timer of at least min and returns it: the
// runner's idle timer, not a shorter one armed on the way.
func armedAtLeast(t *testing.T, c *fakeClock, min time.Duration) time.Duration {
	t.Helper()
	for {
		if d := waitArmed(t, c); d >= min {
			return d
		}
	}
}

// kickAndSettle kicks the runner and returns once it has decided on the
// kick and waits again, whatever it armed recorded by the clock.
func kickAndSettle(t *testing.T, h *harness) {
	t.Helper()
	select {
	case h.runner.kick <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("the runner takes no kick")
	}
	h.kicks++
	for {
		select {
		case n := <-h.idles:
			if n >= h.kicks {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the runner did not wait again after kick %d", h.kicks)
		}
	}
}

// The due time is computed from the certificate and provisionedAt, saved
// with the handover, shown in the status, slept on with one timer, and
// the rotation it fires is make-before-break: the old identity is handed
// over until the new one is.
func TestRotationDueSavedAndActedOn(t *testing.T) {
	h, _ := rotatingHarness(t, func(s *Settings) { s.Rotation = rotation.Policy{After: 30 * day} })
	first := h.state()
	sched := wantSchedule(t, h, first)
	if !first.RotationDueAt.Equal(sched.At) {
		t.Fatalf("rotationDueAt %s, want %s", first.RotationDueAt, sched.At)
	}
	nominal := first.ProvisionedAt.Add(30 * day)
	if first.RotationDueAt.After(nominal) || first.RotationDueAt.Before(nominal.Add(-3*day)) {
		t.Errorf("rotationDueAt %s outside the jitter window before %s", first.RotationDueAt, nominal)
	}
	if got := StatusText(first, h.clock.Now()); !strings.Contains(got, "rotation due "+first.RotationDueAt.Format(time.RFC3339)) {
		t.Errorf("status %q does not name the due time", got)
	}
	d := armedAtLeast(t, h.clock, time.Hour)
	if want := first.RotationDueAt.Sub(h.clock.Now()); d != want {
		t.Fatalf("idle timer %s, want %s (until the due time)", d, want)
	}
	var handed []string
	h.onSave = func(s store.State) {
		var c store.Credentials
		if data, err := h.files.Read(store.CredentialsFile); err == nil && json.Unmarshal(data, &c) == nil {
			handed = append(handed, c.CertificateID)
		}
	}
	h.clock.Advance(d)
	h.waitSaved(func(s store.State) bool { return s.Renewal == store.RenewalRotation })
	h.finish(registeredAs("thing-2"))
	st := checkRegistered(t, h)
	if st.CertificateID == first.CertificateID || st.Renewal != "" {
		t.Fatalf("after rotation: %+v", st)
	}
	if st.RotationDueAt.IsZero() || !st.RotationDueAt.After(first.RotationDueAt) {
		t.Errorf("the new identity's rotationDueAt %s is not after the old one's %s", st.RotationDueAt, first.RotationDueAt)
	}
	if i := slices.Index(handed, st.CertificateID); i < 0 || slices.ContainsFunc(handed[:i], func(id string) bool { return id != first.CertificateID }) {
		t.Errorf("credentials.json named %v during the rotation, want the old identity until the new one", handed)
	}
	if n := len(st.Orphans); n != 1 || st.Orphans[0].CertificateID != first.CertificateID {
		t.Errorf("orphans %+v, want the old certificate", st.Orphans)
	}
}

// A state saved by a provisiond without the policy (or another policy)
// gets its due time at start-up.
func TestRotationDueRecomputedAtStart(t *testing.T) {
	h := newHarness(t, MethodCSR, testClock)
	h.runUntil(registeredAs("thing-1"))
	if st := h.state(); !st.RotationDueAt.IsZero() {
		t.Fatalf("rotationDueAt %s without a policy", st.RotationDueAt)
	}
	h.settings.Rotation = rotation.Policy{LifetimeShare: 0.8}
	h.start()
	st := h.waitSaved(func(s store.State) bool { return !s.RotationDueAt.IsZero() })
	if want := wantSchedule(t, h, st).At; !st.RotationDueAt.Equal(want) {
		t.Errorf("rotationDueAt %s, want %s", st.RotationDueAt, want)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}

// A clock that jumps forward past the due time (the first time sync after
// a power cut) does not rotate at once: the identity waits for its
// recurrence in the window, at most an hour. A clock before the
// certificate's start arms no timer at all.
func TestClockJumpDoesNotRotateEarly(t *testing.T) {
	h, _ := rotatingHarness(t, func(s *Settings) { s.Rotation = rotation.Policy{After: 30 * day} })
	first := h.state()
	armedAtLeast(t, h.clock, time.Hour)

	armed := len(h.clock.Waits())
	h.clock.Jump(-20 * 365 * day) // before the certificate's start (2020)
	kickAndSettle(t, h)           // what the clock-set watch does
	if waits := h.clock.Waits(); len(waits) != armed {
		t.Fatalf("a timer of %s armed at an implausible clock", waits[armed])
	}
	select {
	case d := <-h.clock.Armed():
		t.Fatalf("a timer of %s armed at an implausible clock", d)
	default:
	}

	h.clock.Jump(20*365*day + 40*day) // synced: 40 days on, ten past due
	kickAndSettle(t, h)
	d := waitArmed(t, h.clock)
	if d <= 0 || d > rotation.MaxRespread {
		t.Fatalf("after the jump, a timer of %s, want within the hour's respread", d)
	}
	if st := h.state(); st.CertificateID != first.CertificateID || st.Phase != store.Registered {
		t.Fatalf("the jump rotated at once: %+v", st)
	}
	if calls := h.svc.Calls(); slices.Contains(calls[len(calls)-1:], "dial") {
		t.Fatalf("the jump dialled the service: %v", calls)
	}
	h.clock.Advance(d)
	h.finish(registeredAs("thing-2"))
	checkRegistered(t, h)
}

func errRefused() error {
	return fmt.Errorf("connect: %w", packets.ErrorRefusedNotAuthorised)
}

// verify_every proves the identity on its timer: a refusal by the service
// replaces it through the claim, with the status saying so; a network
// failure keeps it.
func TestVerifyEvery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		refused bool
	}{
		{"accepted", nil, false},
		{"network failure", errors.New("dial tcp 127.0.0.1:8883: connect: connection refused"), false},
		{"refused", errRefused(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := rotatingHarness(t, func(s *Settings) { s.VerifyEvery = day })
			first := h.state()
			if !first.VerifiedAt.Equal(first.ProvisionedAt) || first.VerifyResult != store.VerifyAccepted {
				t.Fatalf("the handover's proof is not recorded: %+v", first)
			}
			d := armedAtLeast(t, h.clock, time.Hour)
			if d > day || d < day-day/10-time.Minute {
				t.Fatalf("verification timer %s, want within the last 10%% of a day", d)
			}
			h.svc.fail("prove", tc.err)
			statuses := make(chan string, 100)
			h.onSave = func(s store.State) { statuses <- StatusText(s, h.clock.Now()) }
			h.clock.Advance(d)
			if !tc.refused {
				st := h.waitSaved(func(s store.State) bool { return !s.Verifying && s.VerifiedAt.After(first.VerifiedAt) })
				want := store.VerifyAccepted
				if tc.err != nil {
					want = store.VerifyUnreachable
				}
				if st.VerifyResult != want || st.CertificateID != first.CertificateID || st.Phase != store.Registered {
					t.Fatalf("after the verification: %+v, want %s and the same identity", st, want)
				}
				if err := h.stop(); err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(strings.Join(h.svc.Calls(), " "), "dial"); n > 1 {
					t.Errorf("the claim was dialled again: %v", h.svc.Calls())
				}
				return
			}
			h.finish(registeredAs("thing-2"))
			st := checkRegistered(t, h)
			if len(st.Orphans) != 1 || !strings.Contains(st.Orphans[0].Reason, "refused by the service") {
				t.Errorf("orphans %+v, want the refused certificate with its reason", st.Orphans)
			}
			found := false
			for len(statuses) > 0 {
				if strings.HasPrefix(<-statuses, RefusedStatus) {
					found = true
				}
			}
			if !found {
				t.Errorf("no status began %q", RefusedStatus)
			}
		})
	}
}

// `reprovision --if-refused` (store.VerifyRequestFile) proves the identity once:
// kept when accepted, replaced when refused.
func TestVerifyRequest(t *testing.T) {
	for _, refused := range []bool{false, true} {
		t.Run(fmt.Sprint("refused=", refused), func(t *testing.T) {
			h, r := rotatingHarness(t, func(*Settings) {})
			first := h.state()
			if refused {
				h.svc.fail("prove", errRefused())
			}
			h.clock.Advance(time.Minute)
			if err := h.files.Write(store.VerifyRequestFile, []byte("now\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r.HandoffChanged()
			if refused {
				h.finish(registeredAs("thing-2"))
				checkRegistered(t, h)
			} else {
				st := h.waitSaved(func(s store.State) bool { return s.VerifiedAt.After(first.VerifiedAt) })
				if st.VerifyResult != store.VerifyAccepted || st.CertificateID != first.CertificateID {
					t.Fatalf("after an accepted proof: %+v", st)
				}
				if err := h.stop(); err != nil {
					t.Fatal(err)
				}
			}
			if h.exists(store.VerifyRequestFile) {
				t.Error("the request file was left behind")
			}
		})
	}
}

// status names the registered sub-states and the renewals.
func TestRotationStatusText(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	due := now.Add(30 * day)
	for _, tc := range []struct {
		st   store.State
		want string
	}{
		{store.State{Phase: store.Registered, ThingName: "gw"}, "registered as gw"},
		{store.State{Phase: store.Registered, ThingName: "gw", RotationDueAt: due}, "registered as gw, rotation due 2026-12-26T12:00:00Z"},
		{store.State{Phase: store.Registered, ThingName: "gw", Verifying: true}, "registered as gw: verifying the identity with the service"},
		{store.State{Phase: store.Unprovisioned, Renewal: store.RenewalRotation}, "rotating, the old identity still in use: unprovisioned: requesting a certificate"},
		{store.State{Phase: store.CertPending, Renewal: store.RenewalRefused, CertificateID: "abc"}, RefusedStatus + ": cert-pending: registering certificate abc"},
	} {
		if got := StatusText(tc.st, now); got != tc.want {
			t.Errorf("StatusText(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
}

// rotation.credential: device registers with rotation.template over the
// device's identity; when the service refuses that identity, the claim
// takes over, and registers with template.name, the claim's template.
func TestRotationTemplateFollowsTheSessionsCredential(t *testing.T) {
	for _, tc := range []struct {
		name         string
		refused      bool
		wantTemplate string
	}{
		{"over the device identity", false, "RotationTemplate"},
		{"refused, over the claim", true, "GatewayTemplate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := rotatingHarness(t, func(s *Settings) {
				s.Rotation = rotation.Policy{After: 30 * day}
				s.RotationTemplate = "RotationTemplate"
			})
			if tc.refused {
				h.svc.fail("dial-device", errRefused())
			}
			h.clock.Advance(armedAtLeast(t, h.clock, time.Hour))
			st := h.waitSaved(registeredAs("thing-2"))
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(h.svc.Calls(), "dial-device") {
				t.Fatalf("the rotation never dialled with the device identity: %v", h.svc.Calls())
			}
			if got := st.DeviceConfiguration["template"]; got != tc.wantTemplate {
				t.Errorf("registered with %q, want %q", got, tc.wantTemplate)
			}
		})
	}
}
