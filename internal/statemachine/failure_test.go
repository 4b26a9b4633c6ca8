package statemachine

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/store"
)

// TestAttemptRecord runs the attempt record's pure functions: what is
// saved before a call, after a failure and on resuming.
func TestAttemptRecord(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ceiling := func(n int) time.Duration { return time.Duration(n) * time.Second }
	wait := func(f failure, n int) time.Duration {
		return time.Duration(n)*time.Minute + time.Duration(f.kind)*time.Hour
	}
	transient := failure{op: "connect", kind: fleet.KindTransient, text: "connect: lost"}
	refused := failure{op: "connect", kind: fleet.KindTransient, text: "connect: EOF", step: "MQTT: refused"}
	clockFail := failure{op: "connect", kind: fleet.KindClock, text: "connect: x509: expired"}
	tpmBusy := failure{op: "make the key", kind: fleet.KindTransient, text: "make the key: tpm: busy", device: true}
	tests := []struct {
		name string
		got  store.State
		want store.State
	}{
		{"before a call: counted, with its ceiling",
			beforeCall(store.State{Attempts: 2}, now, ceiling),
			store.State{Attempts: 3, NextAttemptAt: now.Add(3 * time.Second), Calling: true}},
		{"before a call already recorded: once",
			beforeCall(store.State{Attempts: 3, Calling: true, NextAttemptAt: now}, now.Add(time.Hour), ceiling),
			store.State{Attempts: 3, Calling: true, NextAttemptAt: now}},
		{"a failed call counts once",
			afterFailure(store.State{Attempts: 3, Calling: true}, transient, now, wait),
			store.State{Attempts: 3, LastError: "connect: lost", LastOperation: "connect", LastErrorKind: "transient",
				NextAttemptAt: now.Add(3 * time.Minute)}},
		{"a failure before any call counts",
			afterFailure(store.State{Attempts: 2}, transient, now, wait),
			store.State{Attempts: 3, LastError: "connect: lost", LastOperation: "connect", LastErrorKind: "transient",
				NextAttemptAt: now.Add(3 * time.Minute)}},
		{"the step is recorded with the failure",
			afterFailure(store.State{Attempts: 1}, refused, now, wait),
			store.State{Attempts: 2, LastError: "connect: EOF", LastOperation: "connect", LastErrorKind: "transient",
				LastStep: "MQTT: refused", NextAttemptAt: now.Add(2 * time.Minute)}},
		{"the clock is not the service's fault",
			afterFailure(store.State{Attempts: 1, Calling: true}, clockFail, now, wait),
			store.State{Attempts: 0, LastError: "connect: x509: expired", LastOperation: "connect", LastErrorKind: "clock",
				NextAttemptAt: now.Add(3 * time.Hour)}},
		{"the key store's device is not the service's fault",
			afterFailure(store.State{Attempts: 1}, tpmBusy, now, wait),
			store.State{Attempts: 1, LastError: "make the key: tpm: busy", LastOperation: "make the key", LastErrorKind: "transient",
				NextAttemptAt: now.Add(time.Minute)}},
		{"nor during a call",
			afterFailure(store.State{Attempts: 2, Calling: true}, tpmBusy, now, wait),
			store.State{Attempts: 1, LastError: "make the key: tpm: busy", LastOperation: "make the key", LastErrorKind: "transient",
				NextAttemptAt: now.Add(time.Minute)}},
		{"an answered call is no failure",
			answered(store.State{Attempts: 4, Calling: true}),
			store.State{Attempts: 3}},
		{"counted once",
			counted(counted(store.State{Attempts: 4, Calling: true})),
			store.State{Attempts: 5}},
		{"resumed: a dead process's call stays counted",
			resumed(store.State{Attempts: 4, Calling: true}),
			store.State{Identity: 1, Attempts: 4}},
		{"progress keeps the count",
			progressed(store.State{Attempts: 2, LastError: "x: y", LastOperation: "x", LastErrorKind: "permanent", LastStep: "TLS: z", NextAttemptAt: now}),
			store.State{Attempts: 2}},
		{"success clears the record",
			succeeded(store.State{Attempts: 2, Calling: true, LastError: "x: y", LastErrorKind: "clock", NextAttemptAt: now}),
			store.State{}},
	}
	for _, tc := range tests {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, tc.got, tc.want)
		}
	}
}

// stepped is an error as the daemon's dialer wraps it: with check's words.
type stepped struct {
	error
	step string
}

func (s stepped) Step() string  { return s.step }
func (s stepped) Unwrap() error { return s.error }

func TestFailureOf(t *testing.T) {
	rej := &fleet.RejectedError{Operation: fleet.OpRegisterThing, StatusCode: 503, ErrorCode: "InternalFailure", ErrorMessage: "busy"}
	tests := []struct {
		err  error
		want failure
	}{
		{serviceErr("RegisterThing", rej), failure{"RegisterThing", fleet.KindTransient, "RegisterThing: 503 InternalFailure: busy", "", false, nil, ""}},
		{localErr("save state", errors.New("disk full")), failure{"save state", fleet.KindTransient, "save state: disk full", "", false, nil, ""}},
		{errors.New("odd"), failure{"attempt", fleet.KindTransient, "attempt: odd", "", false, nil, ""}},
		// The TPM's failures wait by their kind, whatever the step.
		{localErr("open the TPM", &tpmkey.Error{Setting: "tpm.device", Kind: tpmkey.KindMissing, Msg: "no TPM listening"}),
			failure{"open the TPM", fleet.KindPermanent, "open the TPM: tpm.device: no TPM listening", "", true, nil, ""}},
		{serviceErr(opProve, &tpmkey.Error{Kind: tpmkey.KindTransient, Msg: "sign: the TPM is busy"}),
			failure{opProve, fleet.KindTransient, opProve + ": tpm: sign: the TPM is busy", "", true, nil, ""}},
		{localErr("make the key persistent", &tpmkey.Error{Setting: "tpm.handle", Kind: tpmkey.KindLockout, Msg: "lockout"}),
			failure{"make the key persistent", fleet.KindPermanent, "make the key persistent: tpm.handle: lockout", "", true, nil, ""}},
		// The dialer's words for the step travel with the error, beside the library's.
		{serviceErr("connect", stepped{fleet.ErrConnectionLost, "TCP: nothing listening at 127.0.0.1:1"}),
			failure{"connect", fleet.KindTransient, "connect: " + fleet.ErrConnectionLost.Error(), "TCP: nothing listening at 127.0.0.1:1", false, nil, ""}},
	}
	for _, tc := range tests {
		if got := failureOf(tc.err); got != tc.want {
			t.Errorf("failureOf(%v) = %+v, want %+v", tc.err, got, tc.want)
		}
	}
}

// TestNextFromSavedState: each sub-state follows from the saved state alone.
func TestNextFromSavedState(t *testing.T) {
	tests := []struct {
		st   store.State
		keys keyOrigin
		want action
	}{
		{store.State{}, keyMadeHere, makeKey},
		{store.State{}, keyMadeHere, makeKey},
		{store.State{}, keyFromService, getCertificate},
		{store.State{Phase: store.Unprovisioned, KeyRef: store.KeyRef{KeyFile: "identities/1/private.key"}}, keyMadeHere, getCertificate},
		{store.State{Phase: store.Unprovisioned, KeyRef: store.KeyRef{KeyFile: "identities/1/private.tss2.pem"}}, keyMadeHere, getCertificate},
		{store.State{Phase: store.Unprovisioned, LastErrorKind: store.KindClock}, keyMadeHere, waitForClock},
		{store.State{Phase: store.CertPending}, keyMadeHere, register},
		{store.State{Phase: store.CertPending, LastErrorKind: store.KindClock}, keyMadeHere, waitForClock},
		{store.State{Phase: store.CertPending, ThingName: "gw"}, keyMadeHere, proveAndHandOver},
		{store.State{Phase: store.Registered, ThingName: "gw", LastErrorKind: store.KindClock}, keyMadeHere, keepHandoff},
	}
	for _, tc := range tests {
		if got := next(tc.st, tc.keys); got != tc.want {
			t.Errorf("next(%+v, keys %v) = %d, want %d", tc.st, tc.keys, got, tc.want)
		}
	}
}

// TestOnSaveSeesEverySave: the observer sees what state.json holds, in order.
func TestOnSaveSeesEverySave(t *testing.T) {
	h := newHarness(t, MethodCSR, autoClock)
	var mu sync.Mutex
	var saved []store.State
	h.onSave = func(s store.State) { mu.Lock(); saved = append(saved, s); mu.Unlock() }
	st := h.provision(registeredAs(""))
	mu.Lock()
	defer mu.Unlock()
	if len(saved) == 0 {
		t.Fatal("no save observed")
	}
	last := saved[len(saved)-1]
	if last.Phase != store.Registered || last.ThingName != st.ThingName || last.HandedOver != st.Identity {
		t.Errorf("last save %+v, state.json %+v", last, st)
	}
	var phases []store.Phase
	for _, s := range saved {
		if len(phases) == 0 || phases[len(phases)-1] != s.Phase {
			phases = append(phases, s.Phase)
		}
	}
	if len(phases) != 3 || phases[0] != store.Unprovisioned || phases[1] != store.CertPending {
		t.Errorf("phases saved %v", phases)
	}
}
