package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/provisiond/provisiond/internal/claimdrop"
	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

// cmdClaim is `provisiond claim import [FILE|-] [--wait D]`: a temporary
// claim from a trusted user (CreateProvisioningClaim's JSON, or a PEM
// certificate and key) goes into the state folder's drop folder, which the
// daemon watches; with --wait it prints what came of it.
func cmdClaim(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(stderr, "usage: provisiond claim import [FILE|-] [--wait D] [--config FILE]")
		return exitUsage
	}
	fs, path := newFlags("claim import", stderr)
	wait := fs.Duration("wait", 0, "wait this long for the claim's outcome: the thing name, or the failure (0: don't wait)")
	// FILE may stand before or after the flags.
	file, rest := "-", args[1:]
	if len(rest) > 0 && (rest[0] == "-" || rest[0][0] != '-') {
		file, rest = rest[0], rest[1:]
	}
	if code := parseFlags(fs, rest); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitConfig
	}
	imp := cfg.ClaimImport()
	if imp == nil {
		fmt.Fprintf(stderr, "provisiond claim import: %s takes no temporary claim: add {source: import} to claim (see provisiond(8))\n", cfg.Path)
		return exitConfig
	}
	claim, err := claimdrop.Read(file, stdin)
	if err == nil {
		err = imp.Allows(cfg, claim.TemplateName, claim.Parameters)
	}
	if err == nil && time.Now().After(claim.NotAfter) {
		err = errors.New(claims.TemporaryExpiredText(claim.NotAfter))
	}
	if err != nil {
		fmt.Fprintf(stderr, "provisiond claim import: %v\n", err)
		return exitFailure
	}
	_, err = claimdrop.Put(cfg.StateDirectory, claim)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond claim import: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "provisiond claim import: %s handed to the daemon\n", claim)
	if *wait <= 0 {
		return exitOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	st, err := store.WaitForState(ctx, cfg.StateDirectory, func(s store.State) bool {
		return claimdrop.Outcome(s, claim) != ""
	})
	switch outcome := claimdrop.Outcome(st, claim); {
	case err != nil:
		fmt.Fprintf(stderr, "provisiond claim import: timed out waiting (%s)\n", statemachine.StatusText(st, time.Now()))
		return exitTimedOut
	case outcome == claimdrop.Registered:
		fmt.Fprintln(stdout, st.ThingName)
		return exitOK
	default:
		fmt.Fprintf(stderr, "provisiond claim import: failed (%s): %s\n", st.LastErrorKind, outcome)
		return exitFailure
	}
}
