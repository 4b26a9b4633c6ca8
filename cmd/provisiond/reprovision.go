package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

// cmdReprovision asks the running daemon for a new identity by dropping a
// request file into its state folder, which the daemon watches. A request
// left while the daemon is stopped is served when it starts.
func cmdReprovision(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("reprovision", stderr)
	wait := fs.Duration("wait", 0, "wait this long for the new identity (0: don't wait)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*path, stderr, false)
	if !ok {
		return exitConfig
	}
	old, _ := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	req := filepath.Join(cfg.StateDirectory, statemachine.ReprovisionRequestFile)
	stamp := []byte(time.Now().UTC().Format(time.RFC3339Nano) + "\n")
	if err := atomicfile.Write(req, stamp, 0o600); err != nil {
		fmt.Fprintf(stderr, "provisiond reprovision: %v\n", err)
		return exitFailure
	}
	if running, err := store.InUse(cfg.StateDirectory); err == nil && !running {
		fmt.Fprintln(stderr, "provisiond reprovision: no daemon is running: the request is served when it starts")
	}
	if *wait <= 0 {
		fmt.Fprintln(stdout, "reprovision requested")
		return exitOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	creds, err := store.WaitForCredentials(ctx, cfg.StateDirectory, old.CertificateID)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond reprovision: %v\n", err)
		return exitTimedOut
	}
	fmt.Fprintf(stdout, "reprovisioned as %s (certificate %s)\n", creds.ThingName, creds.CertificateID)
	return exitOK
}
