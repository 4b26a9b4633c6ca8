package statemachine

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"github.com/provisiond/provisiond/internal/config"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/store"

	"github.com/provisiond/provisiond/internal/keypair"
)

var (
	unprov   = store.Unprovisioned
	pending  = store.CertPending
	regd     = store.Registered
	err503   = &fleet.RejectedError{Operation: fleet.OpRegisterThing, StatusCode: 503, ErrorCode: "InternalFailure", ErrorMessage: "try later"}
	err403   = &fleet.RejectedError{Operation: fleet.OpCreateFromCSR, StatusCode: 403, ErrorCode: "AccessDenied", ErrorMessage: "template disabled"}
	errToken = &fleet.RejectedError{Operation: fleet.OpRegisterThing, StatusCode: 400, ErrorCode: fleet.ErrorCodeInvalidToken, ErrorMessage: "Certificate ownership token is invalid."}
	errClock = x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time is before 2026"}
)

// checkRegistered asserts the end state every scenario must reach: a
// registered state, a credentials.json naming a certificate and key that
// pair, a key readable only by its owner, and a thing the service knows.
func checkRegistered(t *testing.T, h *harness) store.State {
	t.Helper()
	st := h.state()
	if st.Phase != regd {
		t.Fatalf("state = %s, want registered", st.Phase)
	}
	data, err := h.files.Read(store.CredentialsFile)
	if err != nil {
		t.Fatalf("credentials.json: %v", err)
	}
	var c store.Credentials
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("credentials.json: %v", err)
	}
	var keyFields store.Credentials
	h.runner.keys.Handoff(st.KeyRef, &keyFields)
	if c.ThingName != st.ThingName || c.CertificateID != st.CertificateID ||
		c.CertificateFile != h.files.Path(st.CertificateFile) || c.PrivateKeyFile != keyFields.PrivateKeyFile ||
		c.PrivateKeyURI != keyFields.PrivateKeyURI ||
		c.Endpoint != h.settings.Endpoint || c.RootCAFile != h.settings.RootCAFile ||
		c.TemplateName != h.settings.Template || !c.ProvisionedAt.Equal(st.ProvisionedAt) || c.ProvisionedAt.IsZero() {
		t.Fatalf("credentials.json %+v does not describe state %+v", c, st)
	}
	certPEM, err := h.files.Read(strings.TrimPrefix(c.CertificateFile, "/memory/"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := h.runner.keys.Public(st.KeyRef)
	if err != nil {
		t.Fatalf("the handed-over key: %v", err)
	}
	if err := keypair.MatchPublic(cert, pub); err != nil {
		t.Fatalf("certificate and key do not pair: %v", err)
	}
	if got := certID(certPEM); got != c.CertificateID {
		t.Fatalf("certificateId %s, certificate file is %s", c.CertificateID, got)
	}
	if perm, err := h.files.Perm(st.KeyFile); st.KeyFile != "" && (err != nil || perm != keystore.KeyFileMode) {
		t.Fatalf("key file mode %o (%v), want %o", perm, err, keystore.KeyFileMode)
	}
	h.svc.mu.Lock()
	thing := h.svc.things[c.CertificateID]
	h.svc.mu.Unlock()
	if thing != c.ThingName {
		t.Fatalf("service attached certificate to %q, credentials say %q", thing, c.ThingName)
	}
	if st.OwnershipToken != "" {
		t.Fatal("the spent ownership token is still in the state file")
	}
	return st
}

func TestSequences(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		faults  map[string][]error
		phases  []store.Phase
		calls   []string
		orphans int
	}{
		{
			name:   "csr happy path",
			method: MethodCSR,
			phases: []store.Phase{unprov, pending, regd},
			calls:  []string{"dial", "create", "register", "prove"},
		},
		{
			name:   "create-keys happy path",
			method: MethodCreateKeys,
			phases: []store.Phase{unprov, pending, regd},
			calls:  []string{"dial", "create", "register", "prove"},
		},
		{
			name:    "token refused by RegisterThing",
			method:  MethodCSR,
			faults:  map[string][]error{"register": {errToken}},
			phases:  []store.Phase{unprov, pending, unprov, pending, regd},
			calls:   []string{"dial", "create", "register", "dial", "create", "register", "prove"},
			orphans: 1,
		},
		{
			name:    "token refused, create-keys",
			method:  MethodCreateKeys,
			faults:  map[string][]error{"register": {errToken}},
			phases:  []store.Phase{unprov, pending, unprov, pending, regd},
			calls:   []string{"dial", "create", "register", "dial", "create", "register", "prove"},
			orphans: 1,
		},
		{
			name:   "transient failures in every step",
			method: MethodCSR,
			faults: map[string][]error{
				"dial":     {fleet.ErrConnectionLost},
				"create":   {fleet.ErrTimeout},
				"register": {err503, err503},
				"prove":    {fleet.ErrConnectionLost},
			},
			phases: []store.Phase{unprov, pending, regd},
			calls: []string{"dial", "dial", "create", "dial", "create", "register",
				"dial", "register", "dial", "register", "prove", "prove"},
		},
		{
			name:   "clock failures",
			method: MethodCreateKeys,
			faults: map[string][]error{"dial": {errClock, errClock}},
			phases: []store.Phase{unprov, pending, regd},
			calls:  []string{"dial", "dial", "dial", "create", "register", "prove"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.method, autoClock)
			for op, errs := range tc.faults {
				h.svc.fail(op, errs...)
			}
			st := h.provision(registeredAs(""))
			if got := h.files.Phases(); !slices.Equal(got, tc.phases) {
				t.Errorf("phases = %v, want %v", got, tc.phases)
			}
			if got := h.svc.Calls(); !slices.Equal(got, tc.calls) {
				t.Errorf("calls = %v, want %v", got, tc.calls)
			}
			if len(st.Orphans) != tc.orphans {
				t.Errorf("orphans = %+v, want %d", st.Orphans, tc.orphans)
			}
			if want := 1 + tc.orphans; st.Identity != want {
				t.Errorf("identity = %d, want %d", st.Identity, want)
			}
			// An abandoned identity leaves no private key behind.
			for n := 1; n < st.Identity; n++ {
				if h.exists(store.IdentityFile(n, store.KeyFileName)) || h.exists(store.IdentityFile(n, store.CertificateFileName)) {
					t.Errorf("files of abandoned identity %d remain: %v", n, h.files.Names())
				}
			}
			if n := h.svc.maxRegisterCallsPerToken(); n != 1 {
				t.Errorf("RegisterThing called %d times for one token", n)
			}
			// A CSR key is made once per identity and reused on retries.
			wantKeys := int32(0)
			if tc.method == MethodCSR {
				wantKeys = int32(st.Identity)
			}
			if n := h.keyGens.Load(); n != wantKeys {
				t.Errorf("%d keys generated, want %d", n, wantKeys)
			}
			if st.Attempts != 0 || st.LastError != "" || !st.NextAttemptAt.IsZero() || st.LastErrorKind != "" || st.Calling {
				t.Errorf("failure bookkeeping not reset: %+v", st)
			}
			if ready, _ := h.notify.counts(); ready != 1 {
				t.Errorf("Ready %d times; want once", ready)
			}
		})
	}
}

func TestHappyPathStatusesAndFiles(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	st := h.provision(registeredAs("thing-1"))
	if st.KeyFile != "identities/1/private.key" || st.CertificateFile != "identities/1/certificate.pem" {
		t.Errorf("identity files %q %q", st.KeyFile, st.CertificateFile)
	}
	want := []string{
		"unprovisioned: requesting a certificate",
		"cert-pending: registering certificate " + st.CertificateID[:12],
		"cert-pending: registered as thing-1, checking the new certificate",
		"registered as thing-1",
	}
	var got []string
	for _, s := range h.notify.Statuses() {
		if len(got) == 0 || got[len(got)-1] != s {
			got = append(got, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("statuses = %q, want %q", got, want)
	}
	if st.DeviceConfiguration["serial"] != "0001" || st.DeviceConfiguration["template"] != "GatewayTemplate" {
		t.Errorf("device configuration %v", st.DeviceConfiguration)
	}
}

func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		name string
		// between the certificate and RegisterThing
		wait    func(h *harness)
		orphans int
	}{
		{"boot clock says expired although the wall clock jumped back", func(h *harness) {
			h.clock.Advance(56 * time.Minute)
			h.clock.Jump(-2 * time.Hour)
		}, 1},
		{"boot clock says fresh although the wall clock jumped ahead", func(h *harness) {
			h.clock.Advance(10 * time.Minute)
			h.clock.Jump(3 * time.Hour)
		}, 0},
		{"after a reboot the wall clock says expired", func(h *harness) {
			h.clock.Reboot(2 * time.Hour)
		}, 1},
		{"after a reboot the wall clock says fresh", func(h *harness) {
			h.clock.Reboot(20 * time.Minute)
		}, 0},
		{"after a reboot to a clock in the past the age is unknown: try", func(h *harness) {
			h.clock.Reboot(-48 * time.Hour)
		}, 0},
		{"after a reboot to a clock years ahead: try, and the refusal sends it back", func(h *harness) {
			h.clock.Reboot(3 * 365 * 24 * time.Hour)
			h.svc.expireTokens()
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, MethodCSR, autoClock)
			// First run: stop right after the certificate is recorded.
			h.crash = crashAt(PointCertPending, 1)
			h.start()
			if err := h.wait(); err != errCrashed {
				t.Fatalf("first run: %v", err)
			}
			first := h.state()
			tc.wait(h)
			h.crash = nil
			st := h.provision(registeredAs(""))
			if len(st.Orphans) != tc.orphans {
				t.Fatalf("orphans = %+v, want %d", st.Orphans, tc.orphans)
			}
			if tc.orphans == 1 {
				if st.Orphans[0].CertificateID != first.CertificateID {
					t.Errorf("orphan %s, want the first certificate %s", st.Orphans[0].CertificateID, first.CertificateID)
				}
				if st.Identity != 2 || st.KeyFile != "identities/2/private.key" {
					t.Errorf("identity %d key %s, want a new identity 2", st.Identity, st.KeyFile)
				}
				oldKey, _ := h.files.Read(first.KeyFile)
				newKey, _ := h.files.Read(st.KeyFile)
				if string(oldKey) == string(newKey) {
					t.Error("the new identity reuses the old key")
				}
			} else if st.CertificateID != first.CertificateID {
				t.Errorf("certificate changed from %s to %s without an orphan", first.CertificateID, st.CertificateID)
			}
			if n := h.svc.maxRegisterCallsPerToken(); n != 1 {
				t.Errorf("RegisterThing called %d times for one token", n)
			}
		})
	}
}

func TestTokenExpiresWhileRetrying(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	// A permanent refusal waits an hour: longer than the token lives.
	h.svc.fail("register", &fleet.RejectedError{Operation: fleet.OpRegisterThing, StatusCode: 403, ErrorCode: "AccessDenied"})
	st := h.provision(registeredAs(""))
	if got, want := h.files.Phases(), []store.Phase{unprov, pending, unprov, pending, regd}; !slices.Equal(got, want) {
		t.Errorf("phases = %v, want %v", got, want)
	}
	if len(st.Orphans) != 1 || !strings.Contains(st.Orphans[0].Reason, "expired") {
		t.Errorf("orphans = %+v, want one with an expired token", st.Orphans)
	}
	if got, want := h.svc.Calls(), []string{"dial", "create", "register", "dial", "create", "register", "prove"}; !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v: an expired token must not be tried", got, want)
	}
}

func TestCorruptStateIsNotOverwritten(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	garbage := []byte(`{"version": 1, "state": "registered", "thingName": `)
	if err := h.files.Write(store.StateFile, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	err := h.wait()
	var corrupt *store.CorruptError
	if !errors.As(err, &corrupt) {
		t.Fatalf("Run = %v, want a *store.CorruptError", err)
	}
	if data, _ := h.files.Read(store.StateFile); string(data) != string(garbage) {
		t.Error("the corrupt state file was overwritten")
	}
	if ready, _ := h.notify.counts(); ready != 0 {
		t.Error("READY sent although the state could not be loaded")
	}
	if len(h.svc.Calls()) != 0 {
		t.Error("the service was called")
	}
}

func TestUnwritableStoreIsAnError(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	h.files.SetWriteHook(func(string, []byte) error { return errors.New("read-only file system") })
	h.start()
	if err := h.wait(); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Run = %v, want the write error", err)
	}
	if ready, _ := h.notify.counts(); ready != 0 {
		t.Error("READY sent although the store is not writable")
	}
}

func TestNewChecksSettings(t *testing.T) {
	good := newHarness(t, MethodCSR, autoClock)
	tests := []struct {
		name   string
		change func(*Settings, *Deps)
		want   string
	}{
		{"method", func(s *Settings, _ *Deps) { s.Method = "magic" }, "certificate method"},
		{"key type", func(s *Settings, _ *Deps) { s.KeyType = "dsa" }, "key type"},
		{"template", func(s *Settings, _ *Deps) { s.Template = "" }, "template"},
		{"files", func(_ *Settings, d *Deps) { d.Files = nil }, "store"},
		{"dialer", func(_ *Settings, d *Deps) { d.Dialer = nil }, "dialer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := good.settings
			d := Deps{Files: good.files, Dialer: good.svc}
			tc.change(&s, &d)
			_, err := New(s, d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error about %s", err, tc.want)
			}
		})
	}
	s := good.settings
	s.KeyType = "" // create-keys needs none
	s.Method = MethodCreateKeys
	s.Retry = good.settings.Retry
	s.Retry.Max = 0
	r, err := New(s, Deps{Files: good.files, Dialer: good.svc})
	if err != nil {
		t.Fatal(err)
	}
	if r.set.Retry.Max != config.DefaultRetry().Max {
		t.Errorf("Retry.Max default = %s", r.set.Retry.Max)
	}
}
