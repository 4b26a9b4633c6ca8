package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/store"
)

// cmdReprovision asks the running daemon for a new identity by dropping a
// request file into its state folder, which the daemon watches. A request
// left while the daemon is stopped is served when it starts. With
// --if-refused the request is to prove the identity first, and to get a new
// one only if the service refuses it.
func cmdReprovision(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("reprovision", stderr)
	wait := fs.Duration("wait", 0, "wait this long for the new identity (0: don't wait)")
	ifRefused := fs.Bool("if-refused", false, "prove the identity first, and reprovision only if the service refuses it")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitConfig
	}
	old, _ := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	name := store.ReprovisionRequestFile
	if *ifRefused {
		name = store.VerifyRequestFile
	}
	asked := time.Now()
	stamp := []byte(asked.UTC().Format(time.RFC3339Nano) + "\n")
	if err := atomicfile.Write(filepath.Join(cfg.StateDirectory, name), stamp, 0o600); err != nil {
		fmt.Fprintf(stderr, "provisiond reprovision: %v\n", err)
		return exitFailure
	}
	if running, err := store.InUse(cfg.StateDirectory); err == nil && !running {
		fmt.Fprintln(stderr, "provisiond reprovision: no daemon is running: the request is served when it starts")
	}
	if *wait <= 0 {
		if *ifRefused {
			fmt.Fprintln(stdout, "verification requested: a new identity only if the service refuses this one")
		} else {
			fmt.Fprintln(stdout, "reprovision requested")
		}
		return exitOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	type outcome struct {
		creds store.Credentials
		err   error
	}
	replaced := make(chan outcome, 1)
	go func() {
		c, err := store.WaitForCredentials(ctx, cfg.StateDirectory, old.CertificateID)
		replaced <- outcome{c, err}
	}()
	var kept <-chan store.State
	if *ifRefused {
		kept = waitVerified(ctx, cfg.StateDirectory, old.CertificateID, asked)
	}
	select {
	case o := <-replaced:
		if o.err != nil {
			fmt.Fprintf(stderr, "provisiond reprovision: %v\n", o.err)
			return exitTimedOut
		}
		fmt.Fprintf(stdout, "reprovisioned as %s (certificate %s)\n", o.creds.ThingName, o.creds.CertificateID)
		return exitOK
	case st := <-kept:
		if st.VerifyResult == store.VerifyAccepted {
			fmt.Fprintf(stdout, "identity accepted by the service: kept (certificate %s)\n", st.CertificateID)
			return exitOK
		}
		fmt.Fprintf(stderr, "provisiond reprovision: could not reach the service to verify the identity: kept (certificate %s)\n", st.CertificateID)
		return exitFailure
	}
}

// waitVerified delivers the saved state once the daemon recorded a
// verification of certificate id made after asked, in which the identity
// was kept (a refusal replaces credentials.json instead).
func waitVerified(ctx context.Context, dir, id string, asked time.Time) <-chan store.State {
	out := make(chan store.State, 1)
	go func() {
		st, err := store.WaitForState(ctx, dir, func(st store.State) bool {
			return st.Phase == store.Registered && st.CertificateID == id && !st.Verifying &&
				st.VerifiedAt.After(asked) && st.VerifyResult != store.VerifyRefused
		})
		if err == nil {
			out <- st
		}
	}()
	return out
}
