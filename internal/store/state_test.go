package store

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fullState() State {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return State{
		Version:         StateVersion,
		Phase:           CertPending,
		Identity:        3,
		KeyRef:          KeyRef{KeyFile: "identities/3/private.key"},
		CertificateFile: "identities/3/certificate.pem",
		CertificateID:   strings.Repeat("ab", 32),
		OwnershipToken:  "SECRET-OWNERSHIP-TOKEN",
		TokenIssuedAt:   at,
		TokenBootID:     "0f5c8a5e-boot",
		TokenBootTime:   90 * time.Second,
		ThingName:       "gw-0001",
		DeviceConfiguration: map[string]string{
			"fallbackUrl": "https://example.com",
		},
		ProvisionedAt: at.Add(time.Minute),
		Attempts:      2,
		LastError:     "connect: timeout",
		LastOperation: "connect",
		LastErrorKind: KindClock,
		NextAttemptAt: at.Add(2 * time.Minute),
		Calling:       true,
		RotationDueAt: at.Add(300 * 24 * time.Hour),
		Renewal:       RenewalRotation,
		Verifying:     true,
		VerifiedAt:    at.Add(time.Hour),
		VerifyResult:  VerifyAccepted,
		Orphans:       []Orphan{{CertificateID: strings.Repeat("cd", 32), Reason: "token expired", At: at}},
	}
}

func TestStateStoreBothImplementations(t *testing.T) {
	for name, open := range map[string]func(*testing.T) Files{
		"Dir":    openTestDir,
		"Memory": func(*testing.T) Files { return NewMemory() },
	} {
		t.Run(name, func(t *testing.T) {
			f := open(t)
			got, err := LoadState(f)
			if err != nil {
				t.Fatalf("LoadState(empty store) = %v", err)
			}
			if want := (State{Version: StateVersion, Phase: Unprovisioned}); !reflect.DeepEqual(got, want) {
				t.Fatalf("LoadState(empty store) = %+v, want %+v", got, want)
			}

			want := fullState()
			if err := SaveState(f, want); err != nil {
				t.Fatal(err)
			}
			got, err = LoadState(f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}

			var perm permOf = memPerm
			if name == "Dir" {
				perm = dirPerm
			}
			if p, err := perm(f, StateFile); err != nil || p != 0o600 {
				t.Errorf("state file perm = %v, %v; want 0600", p, err)
			}
		})
	}
}

func TestStateFileFormat(t *testing.T) {
	m := NewMemory()
	if err := SaveState(m, State{Phase: Registered, ThingName: "gw"}); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, m, StateFile)
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	// Names are stored as strings and the version is filled in, so that an
	// operator can read the file and a later release can migrate it.
	if raw["state"] != "registered" || raw["version"] != float64(StateVersion) {
		t.Fatalf("state file = %s, want state \"registered\" and version %d", data, StateVersion)
	}
}

func TestSaveStateRefusesWhatLoadWouldReject(t *testing.T) {
	for name, s := range map[string]State{
		"unknown phase":    {Phase: "provisioning"},
		"empty phase":      {},
		"future version":   {Version: 2, Phase: Registered},
		"absolute keyFile": {Phase: Unprovisioned, KeyRef: KeyRef{KeyFile: "/etc/key.pem"}},
		"escaping cert":    {Phase: CertPending, CertificateFile: "../cert.pem"},
		"negative attempt": {Phase: Unprovisioned, Attempts: -1},
	} {
		t.Run(name, func(t *testing.T) {
			m := NewMemory()
			if err := SaveState(m, s); err == nil {
				t.Fatal("SaveState = nil, want an error")
			}
			if len(m.Names()) != 0 {
				t.Fatalf("SaveState wrote %q despite the error", m.Names())
			}
		})
	}
}

func TestLoadStateCorrupt(t *testing.T) {
	valid, err := json.Marshal(fullState())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty file", "", "invalid JSON"},
		{"not JSON", "state=registered", "invalid JSON"},
		{"truncated", string(valid[:len(valid)/2]), "invalid JSON"},
		{"trailing garbage", string(valid) + "}", "invalid JSON"},
		{"array", "[1,2]", "want a JSON object"},
		{"no version", `{"state":"registered"}`, "no version"},
		{"version zero", `{"version":0,"state":"registered"}`, "unknown version 0"},
		{"version as string", `{"version":"1","state":"registered"}`, "version"},
		{"unknown phase", `{"version":1,"state":"provisioning"}`, `unknown phase "provisioning"`},
		{"no phase", `{"version":1}`, "state: missing"},
		{"attempts as string", `{"version":1,"state":"unprovisioned","attempts":"3"}`, "attempts"},
		{"bad time", `{"version":1,"state":"cert-pending","tokenIssuedAt":"yesterday"}`, "wrong form"},
		{"key outside the folder", `{"version":1,"state":"unprovisioned","keyFile":"../../etc/shadow"}`, "keyFile"},
		{"token then garbage", `{"version":1,"state":"cert-pending","ownershipToken":"SECRET-OWNERSHIP-TOKEN",`, "invalid JSON"},
		{"token with bad phase", `{"version":1,"state":"SECRET-OWNERSHIP-TOKEN-THAT-IS-VERY-LONG-INDEED-AND-MORE","ownershipToken":"x"}`, "unknown phase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory()
			mustWrite(t, m, StateFile, []byte(tc.data), 0o600)
			_, err := LoadState(m)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadState = %v, want *CorruptError", err)
			}
			if ce.File != m.Path(StateFile) {
				t.Errorf("File = %q, want %q", ce.File, m.Path(StateFile))
			}
			msg := err.Error()
			for _, want := range []string{m.Path(StateFile), tc.want, "move it aside"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, "SECRET-OWNERSHIP-TOKEN-THAT-IS-VERY-LONG-INDEED-AND-MORE") ||
				strings.Contains(msg, `"SECRET-OWNERSHIP-TOKEN"`) {
				t.Errorf("error %q quotes the token", msg)
			}
			// Never silently reset: the file is left as it was for the operator.
			if got := mustRead(t, m, StateFile); string(got) != tc.data {
				t.Errorf("state file changed to %q", got)
			}
		})
	}
}

// A state from a newer provisiond (a downgrade) is refused as such and
// kept: moving it aside would lose the identity.
func TestLoadStateNewerFormat(t *testing.T) {
	m := NewMemory()
	data := `{"version":2,"state":"registered","thingName":"gw-1"}`
	mustWrite(t, m, StateFile, []byte(data), 0o600)
	_, err := LoadState(m)
	var ce *CorruptError
	var newer *NewerFormatError
	if !errors.As(err, &ce) || !errors.As(err, &newer) || newer.Version != 2 {
		t.Fatalf("LoadState = %v, want a *CorruptError wrapping *NewerFormatError{2}", err)
	}
	msg := err.Error()
	for _, want := range []string{m.Path(StateFile), "newer provisiond", "format version 2", "reads version 1", "left as it is"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "move it aside") {
		t.Errorf("error %q advises moving a newer state aside", msg)
	}
	if got := mustRead(t, m, StateFile); string(got) != data {
		t.Errorf("state file changed to %q", got)
	}
}

func TestLoadStateReadError(t *testing.T) {
	d := openTestDir(t).(*Dir)
	// A folder where the state file should be cannot be read.
	if err := os.Mkdir(d.Path(StateFile), 0o750); err != nil {
		t.Fatal(err)
	}
	_, err := LoadState(d)
	var ce *CorruptError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("LoadState = %v, want a plain read error", err)
	}
}

// A state file from the provisiond before lastErrorKind resumes its clock
// wait: a device upgraded in the field keeps waiting for a plausible clock.
func TestStateFromBeforeErrorKindResumes(t *testing.T) {
	f := NewMemory()
	old := `{"version":1,"state":"unprovisioned","identity":2,"attempts":0,` +
		`"lastError":"connect: x509: certificate has expired","nextAttemptAt":"2026-11-26T12:00:30Z",` +
		`"waiting":"a plausible clock"}`
	if err := f.Write(StateFile, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := LoadState(f)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastErrorKind != KindClock || st.Identity != 2 || st.LastError != "connect: x509: certificate has expired" {
		t.Errorf("loaded %+v, want a clock wait for identity 2", st)
	}
	if err := SaveState(f, st); err != nil {
		t.Fatal(err)
	}
	data, _ := f.Read(StateFile)
	if strings.Contains(string(data), "waiting") {
		t.Errorf("saved again with the old field: %s", data)
	}
}
