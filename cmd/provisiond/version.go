package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// version and commit are set at build time with
// -ldflags "-X main.version=… -X main.commit=…" (packaging/deb/build.sh).
var (
	version = "dev"
	commit  = ""
)

// versionReport is the contract of `version --json`.
type versionReport struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Go is the toolchain the binary was built with.
	Go string `json:"go"`
	// Modules are the modules linked into the binary, from its build info:
	// what a security notice about a dependency is checked against.
	Modules []moduleVersion `json:"modules"`
}

type moduleVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
}

// cmdVersion prints "provisiond VERSION (commit COMMIT)", or with --json
// the version report.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON with the Go version and the linked modules")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	r := buildReport()
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

// buildReport reads the binary's build info. The commit is the one the
// packaging stamped; a plain `go build` in a checkout has Go's own VCS
// stamp instead, and a build from a source archive has neither.
func buildReport() versionReport {
	r := versionReport{Version: version, Commit: commit, Modules: []moduleVersion{}}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		r.Go = "unknown"
	} else {
		r.Go = info.GoVersion
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && r.Commit == "" {
				r.Commit = s.Value
			}
		}
		for _, m := range info.Deps {
			if m.Replace != nil {
				m = m.Replace
			}
			r.Modules = append(r.Modules, moduleVersion{Path: m.Path, Version: m.Version, Sum: m.Sum})
		}
	}
	if r.Commit == "" {
		r.Commit = "unknown"
	}
	return r
}
