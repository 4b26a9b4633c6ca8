package main

import (
	"fmt"
	"io"
)

// cmdCheck validates the config and the files it names.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("check", stderr)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, err := loadValid(*path)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	}
	fmt.Fprintf(stdout, "%s: ok (endpoint %s, template %s, %s over %s)\n",
		cfg.Path, cfg.Endpoint, cfg.Template.Name, cfg.CertificateMethod, cfg.PayloadFormat)
	return exitOK
}
