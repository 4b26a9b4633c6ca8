package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/provisiond/provisiond/internal/check"
	"github.com/provisiond/provisiond/internal/config"
)

// cmdCheck validates the config and the files it names; with --online it
// diagnoses every step against the endpoint.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	return checkAt(args, stdout, stderr, time.Now)
}

// checkAt is cmdCheck with the clock injected, for tests.
func checkAt(args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs, path := newFlags("check", stderr)
	online := fs.Bool("online", false, "diagnose every step against the endpoint, creating nothing")
	asJSON := fs.Bool("json", false, "with --online: print the results as JSON")
	strict := fs.Bool("warnings-as-errors", false, "with --online: exit 1 on a warning too")
	timeout := fs.Duration("timeout", check.DefaultTimeout, "with --online: the time each check may take")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.LoadValid(*path)
	if !*online {
		if err != nil {
			fmt.Fprintf(stderr, "provisiond: %v\n", err)
			return exitConfig
		}
		fmt.Fprintf(stdout, "%s: ok (endpoint %s, template %s, %s over %s)\n",
			cfg.Path, cfg.Endpoint, cfg.Template.Name, cfg.CertificateMethod, cfg.PayloadFormat)
		warnings, failure := check.OfflineClaims(cfg, time.Now())
		for _, w := range warnings {
			fmt.Fprintf(stdout, "claim: warning: %s\n", w)
		}
		if failure != "" {
			fmt.Fprintf(stdout, "claim: fail: %s\n", failure)
			return exitFailure
		}
		return checkKeyStore(cfg, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		check.Print(stdout, []check.Result{check.ConfigFailed(err)}, *asJSON)
		return exitConfig
	}
	results := check.Run(context.Background(), checkOptions(cfg, now, *timeout))
	check.Print(stdout, results, *asJSON)
	if check.Failed(results, *strict) {
		return exitFailure
	}
	return exitOK
}

// checkKeyStore prints the offline check's tpm and pkcs11 lines (check.TPM,
// check.PKCS11): at most one of them applies.
func checkKeyStore(cfg *config.Config, stdout, stderr io.Writer) int {
	for _, keyStore := range []func(*config.Config) (string, error){check.TPM, check.PKCS11} {
		line, err := keyStore(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "provisiond: %v\n", err)
			return exitConfig
		}
		if line != "" {
			fmt.Fprintln(stdout, line)
		}
	}
	return exitOK
}

// checkOptions are the daemon's own settings for each step, so that check
// connects as the daemon would.
func checkOptions(cfg *config.Config, now func() time.Time, timeout time.Duration) check.Options {
	clientID, _ := cfg.ClientIDFor(config.SystemFacts) // LoadValid checked it
	return check.Options{
		Config:   cfg,
		ClientID: clientID,
		Identity: check.CurrentIdentity(cfg),
		Now:      now,
		Timeout:  timeout,
	}
}
