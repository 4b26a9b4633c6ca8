package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

// statusReport is the contract of `status --json`.
type statusReport struct {
	State          store.Phase `json:"state"`
	ThingName      string      `json:"thingName"`
	CertificateID  string      `json:"certificateId"`
	TokenExpiresAt *time.Time  `json:"tokenExpiresAt"`
	Attempts       int         `json:"attempts"`
	LastError      string      `json:"lastError"`
	// LastOperation and LastErrorKind record the failure structured:
	// the operation that failed and how it is retried (transient,
	// permanent, invalid-token, or clock: waiting for a plausible clock).
	LastOperation string `json:"lastOperation"`
	LastErrorKind string `json:"lastErrorKind"`
	// LastStep names the failed step in `provisiond check`'s words
	// ("TLS: server certificate not trusted by root_ca …"); empty when the
	// failure is a service's rejection or not a step check knows.
	LastStep      string     `json:"lastStep"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
	Status        string     `json:"status"`
	// RotationDueAt is when the rotation policy renews the identity; null
	// when no policy applies.
	RotationDueAt *time.Time `json:"rotationDueAt"`
	// Running says whether a daemon holds the state directory; null when
	// this user cannot tell (the folder is not readable to it).
	Running *bool `json:"running"`
	// Claim is the claim the last session used, by its certificate id,
	// and the claims passed over before it; null before the first.
	Claim *store.ClaimInUse `json:"claim"`
}

// cmdStatus prints the persisted state; it needs no running daemon.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("status", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitConfig
	}
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		// 65 means a corrupt state file; one this user may not read is not.
		var corrupt *store.CorruptError
		if errors.As(err, &corrupt) {
			return exitDataErr
		}
		return exitFailure
	}
	now := time.Now()
	rep := newStatusReport(st, now)
	if running, err := store.InUse(cfg.StateDirectory); err == nil {
		rep.Running = &running
	}
	if !*asJSON {
		line := rep.Status
		if rep.Running != nil && !*rep.Running {
			// The words are the last state saved; nothing is acting on them.
			line += " (provisiond is not running)"
		}
		fmt.Fprintln(stdout, line)
		return exitOK
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func newStatusReport(st store.State, now time.Time) statusReport {
	rep := statusReport{
		State:         st.Phase,
		ThingName:     st.ThingName,
		CertificateID: st.CertificateID,
		Attempts:      st.Attempts,
		LastError:     st.LastError,
		LastOperation: st.LastOperation,
		LastErrorKind: string(st.LastErrorKind),
		LastStep:      st.LastStep,
		Status:        statemachine.StatusText(st, now),
		Claim:         st.Claim,
	}
	if t, ok := statemachine.TokenExpiresAt(st); ok {
		t = t.UTC()
		rep.TokenExpiresAt = &t
	}
	if !st.RotationDueAt.IsZero() {
		t := st.RotationDueAt.UTC()
		rep.RotationDueAt = &t
	}
	if !st.NextAttemptAt.IsZero() && st.Phase != store.Registered {
		t := st.NextAttemptAt.UTC()
		rep.NextAttemptAt = &t
	}
	return rep
}
