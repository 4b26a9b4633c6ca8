package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/provisiond/provisiond/internal/buildinfo"
)

// version and commit are set at build time with
// -ldflags "-X main.version=… -X main.commit=…" (packaging/deb/build.sh).
var (
	version = "dev"
	commit  = ""
)

// cmdVersion prints "provisiond VERSION (commit COMMIT)", or with --json
// the version report.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON with the Go version and the linked modules")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	r := buildinfo.Read(version, commit)
	if !*asJSON {
		fmt.Fprintf(stdout, "provisiond %s (commit %s)\n", r.Version, r.Commit)
		return exitOK
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: version: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s\n", data)
	return exitOK
}
