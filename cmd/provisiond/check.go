package main

import (
	"context"
	"encoding/json"
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
		return checkTPM(cfg, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		printResults(stdout, []check.Result{check.ConfigFailed(err)}, *asJSON)
		return exitConfig
	}
	results := check.Run(context.Background(), checkOptions(cfg, now, *timeout))
	printResults(stdout, results, *asJSON)
	if check.Failed(results, *strict) {
		return exitFailure
	}
	return exitOK
}

// checkTPM is the offline check's tpm line, with key_store: tpm: the
// device opens, the parent exists or can be made, tpm.handle is usable.
func checkTPM(cfg *config.Config, stdout, stderr io.Writer) int {
	if cfg.KeyStore != config.KeyStoreTPM {
		return exitOK
	}
	if err := cfg.CheckTPM(); err != nil {
		fmt.Fprintf(stderr, "provisiond: tpm: %v\n", err)
		return exitConfig
	}
	parent, handle := cfg.TPM.Parent, cfg.TPM.Handle
	if parent == "" {
		parent = "the standard storage key"
	}
	if handle == "" {
		handle = "none"
	}
	fmt.Fprintf(stdout, "tpm: ok (device %s, parent %s, persistent handle %s)\n", cfg.TPM.Device, parent, handle)
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

// printResults prints one line per check (and the fix under a failure),
// or a JSON array of one object per check.
func printResults(w io.Writer, results []check.Result, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results)
		return
	}
	for _, r := range results {
		fmt.Fprintf(w, "%-4s  %-8s  %s\n", r.Status, r.Name, r.Message)
		if r.Fix != "" && r.Status != check.OK {
			fmt.Fprintf(w, "      %-8s  fix: %s\n", "", r.Fix)
		}
	}
}
