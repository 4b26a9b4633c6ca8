package main

import (
	"context"
	"fmt"
	"io"

	"github.com/provisiond/provisiond/internal/store"
)

// cmdWait exits 0 once credentials.json is valid, or non-zero on timeout.
func cmdWait(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("wait", stderr)
	timeout := fs.Duration("timeout", 0, "give up after this long (0: wait forever)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitConfig
	}
	ctx := context.Background()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	creds, err := store.WaitForCredentials(ctx, cfg.StateDirectory, "")
	if err != nil {
		fmt.Fprintf(stderr, "provisiond wait: %v\n", err)
		return exitTimedOut
	}
	fmt.Fprintf(stdout, "provisioned as %s (certificate %s)\n", creds.ThingName, creds.CertificateID)
	return exitOK
}
